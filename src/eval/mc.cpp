#include "eval/mc.h"

#include <algorithm>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "eval/ppl.h"
#include "format/json_file.h"
#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {
namespace {

constexpr size_t kMaxChoices = 64;       // MMLU has 4, HellaSwag 4; anything far beyond is a broken file
constexpr size_t kMaxBatchTokens = 1024; // tokens per forward pass (several choices share one)

const nlohmann::json* first_of(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (j.contains(k)) return &j[k];
  return nullptr;
}

// Index from an int, a bool (BoolQ: false = "no" = 0), a letter (ARC's answerKey) or a digit string (HellaSwag).
int answer_index(const nlohmann::json& a) {
  if (a.is_boolean()) return a.get<bool>() ? 1 : 0;
  if (a.is_number_integer()) return a.get<int>();
  const std::string s = a.get<std::string>();
  if (s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z') return s[0] - 'A';
  if (!s.empty() && s.size() < 4 && std::all_of(s.begin(), s.end(), ::isdigit)) return std::stoi(s);
  return -1;
}

size_t utf8_chars(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string strip_number(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

const std::regex& number_re() {
  static const std::regex re(R"(-?[0-9][0-9,]*(\.[0-9]+)?)");
  return re;
}

// The example as the model sees it: context, a space, the gold choice or answer.
std::string shot(const McItem& it) {
  return it.context + " " + (it.choices.empty() ? it.target : it.choices.at(it.answer));
}

}  // namespace

std::vector<McItem> load_mc(const std::string& path, size_t max_items) {
  std::ifstream f(path);
  EDGERAG_CHECK(f.good(), "cannot open {}", path);
  std::vector<McItem> items;
  std::string line;
  for (size_t ln = 1; std::getline(f, line); ++ln) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      // Bounded before parsing: an item file is untrusted input like any other JSONL.
      EDGERAG_CHECK(check_json_shape(line, {.depth = 16, .values = 1 << 16, .keys_per_object = 256}) ==
                        JsonShapeExcess::kNone,
                    "item too deeply nested or too large");
      const auto j = nlohmann::json::parse(line);
      McItem it;
      const auto* q = first_of(j, {"question", "query"});
      const auto* raw = first_of(j, {"ctx", "context"});
      EDGERAG_CHECK(q || raw, "no question, query, ctx or context");
      it.context = raw ? raw->get<std::string>() : "Question: " + q->get<std::string>() + "\nAnswer:";
      if (j.contains("passage")) it.context = j["passage"].get<std::string>() + "\n" + it.context;
      const auto* ans = first_of(j, {"answer", "label", "answerKey"});
      EDGERAG_CHECK(ans, "no answer, label or answerKey");
      const auto* ch = first_of(j, {"choices", "endings"});
      if (ch && ch->is_object()) ch = &ch->at("text");  // ARC: {"text": [...], "label": [...]}
      if (ch)
        for (const auto& c : *ch) it.choices.push_back(c.get<std::string>());
      else if (ans->is_boolean())
        it.choices = {"no", "yes"};  // BoolQ
      if (it.choices.empty()) {
        it.target = ans->is_string() ? ans->get<std::string>() : ans->dump();
      } else {
        EDGERAG_CHECK(it.choices.size() >= 2 && it.choices.size() <= kMaxChoices, "{} choices (2..{})",
                      it.choices.size(), kMaxChoices);
        for (const auto& c : it.choices) EDGERAG_CHECK(!c.empty(), "an empty choice");
        it.answer = answer_index(*ans);
        EDGERAG_CHECK(it.answer >= 0 && it.answer < static_cast<int>(it.choices.size()),
                      "answer {} is not one of the {} choices", ans->dump(), it.choices.size());
      }
      items.push_back(std::move(it));
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: {}", path, ln, e.what());
    } catch (const Error& e) {
      fail("{}:{}: {}", path, ln, e.what());
    }
    if (max_items && items.size() >= max_items) break;
  }
  return items;
}

McPick mc_pick(const std::vector<double>& loglik, const std::vector<std::string>& choices) {
  EDGERAG_CHECK(loglik.size() == choices.size() && !loglik.empty(), "mc_pick: {} scores for {} choices",
                loglik.size(), choices.size());
  McPick p;
  auto norm = [&](size_t i) { return loglik[i] / static_cast<double>(std::max<size_t>(1, utf8_chars(choices[i]))); };
  for (size_t i = 1; i < loglik.size(); ++i) {
    if (loglik[i] > loglik[p.acc]) p.acc = static_cast<int>(i);
    if (norm(i) > norm(p.acc_norm)) p.acc_norm = static_cast<int>(i);
  }
  return p;
}

std::string gsm8k_strict(std::string_view text) {
  const size_t at = text.find("####");
  if (at == std::string_view::npos) return "";
  const std::string rest(text.substr(at + 4));
  std::smatch m;
  if (!std::regex_search(rest, m, number_re()) || rest.find_first_not_of(" \t") != static_cast<size_t>(m.position(0)))
    return "";
  return strip_number(m.str(0));
}

std::string gsm8k_flexible(std::string_view text) {
  const std::string s(text);
  std::string last;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), number_re()); it != std::sregex_iterator(); ++it)
    last = it->str(0);
  return strip_number(last);
}

std::vector<double> continuation_loglik(const Model& model, const std::string& context,
                                        const std::vector<std::string>& continuations, KvType kv_type,
                                        ThreadPool* pool) {
  auto tok = Tokenizer::from_gguf(model.gguf());
  const std::vector<int32_t> ctx = tok->encode(context, true);
  EDGERAG_CHECK(!ctx.empty(), "continuation_loglik: an empty context without BOS has nothing to condition on");
  std::vector<std::vector<int32_t>> seqs;
  size_t longest = 0;
  const int64_t n_ctx = model.hparams().n_ctx_train;
  for (const auto& c : continuations) {
    seqs.push_back(tok->encode(context + c, true));
    // The harness's split: continuation tokens are those past the context's count.
    EDGERAG_CHECK(seqs.back().size() > ctx.size(), "continuation '{}' adds no token", c);
    if (n_ctx > 0 && static_cast<int64_t>(seqs.back().size()) > n_ctx) return {};
    longest = std::max(longest, seqs.back().size());
  }
  const size_t budget = std::max(longest, kMaxBatchTokens);
  auto cache = model.make_cache(static_cast<int64_t>(budget), kv_type);
  std::vector<double> ll(seqs.size(), 0.0);
  for (size_t s0 = 0; s0 < seqs.size();) {
    Batch batch;
    size_t s1 = s0;
    for (; s1 < seqs.size() && (s1 == s0 || batch.size() + seqs[s1].size() <= budget); ++s1)
      for (size_t i = 0; i < seqs[s1].size(); ++i)
        batch.add(seqs[s1][i], static_cast<int32_t>(i), static_cast<SeqId>(s1 - s0),
                  i + 1 >= ctx.size() && i + 1 < seqs[s1].size());
    const Logits logits = model.forward(batch, *cache, pool);
    size_t bi = 0;
    for (size_t s = s0; s < s1; ++s) {
      for (size_t i = 0; i < seqs[s].size(); ++i, ++bi)
        if (batch.tokens[bi].logits) ll[s] -= nll_of(logits.for_token(bi), logits.n_vocab, seqs[s][i + 1]);
      cache->free_sequence(static_cast<SeqId>(s - s0));
    }
    s0 = s1;
  }
  return ll;
}

McResult eval_mc(const Model& model, const std::vector<McItem>& items, const std::vector<McItem>& fewshot,
                 const McOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(opt.num_fewshot >= 0 && static_cast<size_t>(opt.num_fewshot) <= fewshot.size(),
                "{} few-shot examples asked, {} available", opt.num_fewshot, fewshot.size());
  Timer timer;
  std::string prefix;
  for (int k = 0; k < opt.num_fewshot; ++k) prefix += shot(fewshot[k]) + "\n\n";
  auto tok = Tokenizer::from_gguf(model.gguf());
  Generator gen(model, *tok, pool, 0, opt.kv_type);
  GenerationParams gp;
  gp.max_tokens = opt.max_new_tokens;
  gp.sampling.temperature = 0;  // greedy, as the harness's GSM8K task
  gp.stop = {"\n\n", "Question:"};
  McResult r;
  for (const McItem& it : items) {
    const std::string context = prefix + it.context;
    if (it.choices.empty()) {
      const auto ids = tok->encode(context, true);
      if (static_cast<int>(ids.size()) + opt.max_new_tokens > gen.n_ctx()) {
        ++r.skipped;
        continue;
      }
      const std::string out = gen.generate_ids(ids, gp).text;
      const std::string gold = gsm8k_strict(it.target).empty() ? strip_number(it.target) : gsm8k_strict(it.target);
      r.em_strict += gsm8k_strict(out) == gold;
      r.em_flexible += gsm8k_flexible(out) == gold;
      ++r.n_gen;
      continue;
    }
    std::vector<std::string> conts;
    for (const auto& c : it.choices) conts.push_back(" " + c);
    const std::vector<double> ll = continuation_loglik(model, context, conts, opt.kv_type, pool);
    if (ll.empty()) {
      ++r.skipped;
      continue;
    }
    const McPick p = mc_pick(ll, it.choices);
    r.acc += p.acc == it.answer;
    r.acc_norm += p.acc_norm == it.answer;
    ++r.n_mc;
  }
  if (r.n_mc) r.acc /= r.n_mc, r.acc_norm /= r.n_mc;
  if (r.n_gen) r.em_strict /= r.n_gen, r.em_flexible /= r.n_gen;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace edgerag
