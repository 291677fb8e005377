#include "synth/synth_vocab.h"

#include <unordered_set>

#include "util/error.h"

namespace edgerag {

namespace {

constexpr int kNormal = 1, kControl = 3;  // tokenizer.ggml.token_type values

std::unique_ptr<GgufFile> open_fixture(const std::string& dir, const std::string& name) {
  EDGERAG_CHECK(!dir.empty(), "synth: no vocabulary folder given for the {} vocabulary", name);
  return GgufFile::open(dir + "/ggml-vocab-" + name + ".gguf");
}

void copy_tokenizer_keys(GgufWriter& w, const GgufFile& f) {
  for (const auto& key : f.metadata_keys())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, *f.find(key));
}

struct Special {
  int64_t id;
  std::string text;
};

// Family conventions of the generated vocabularies: where the special tokens sit.
struct BpeStyle {
  std::string pre;
  std::vector<Special> specials;  // ids < 0 count from the end of the vocabulary
  std::string filler;             // control tokens padding the rest ("{}" = index)
  int64_t bos, eos, eot;
  bool add_bos;
  std::string chat_template;  // empty: none
};

BpeStyle bpe_style(const std::string& style, int64_t n_vocab) {
  if (style == "qwen2") {
    const int64_t b = n_vocab >= 151936 ? 151643 : n_vocab - 64;
    return {"qwen2", {{b, "<|endoftext|>"}, {b + 1, "<|im_start|>"}, {b + 2, "<|im_end|>"}}, "<|extra_{}|>",
            b, b + 2, b + 2, false,
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
            "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"};
  }
  if (style == "llama3") {
    const int64_t b = n_vocab >= 128256 ? 128000 : n_vocab - 256;
    return {"llama-bpe",
            {{b, "<|begin_of_text|>"}, {b + 1, "<|end_of_text|>"}, {b + 6, "<|start_header_id|>"},
             {b + 7, "<|end_header_id|>"}, {b + 9, "<|eot_id|>"}},
            "<|reserved_special_token_{}|>", b, b + 9, b + 9, true,
            "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
            "message['content'] + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
            "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"};
  }
  if (style == "smollm")
    return {"smollm", {{0, "<|endoftext|>"}, {1, "<|im_start|>"}, {2, "<|im_end|>"}}, "<|extra_{}|>", 1, 2, 2, false,
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
            "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"};
  if (style == "modern-bert") {  // ModernBERT: [UNK] [CLS] [SEP] [PAD] [MASK] at 50280, padded to 50368
    const int64_t b = n_vocab - 88;
    return {"modern-bert",
            {{b, "[UNK]"}, {b + 1, "[CLS]"}, {b + 2, "[SEP]"}, {b + 3, "[PAD]"}, {b + 4, "[MASK]"}},
            "[unused{}]", b + 1, b + 2, b + 2, true, ""};
  }
  fail("synth: unknown vocabulary style '{}'", style);
}

// Byte-level BPE of n_vocab tokens: GPT-2's 256 byte tokens and merges in rank
// order (a prefix of GPT-2 is itself consistent), extended past GPT-2's size by
// merging frequent tokens with short word continuations. Every non-byte token is
// the result of exactly one merge of two earlier tokens.
void write_generated_bpe(GgufWriter& w, const std::string& style, int64_t n_vocab, const std::string& vocab_dir) {
  const BpeStyle st = bpe_style(style, n_vocab);
  auto gpt2 = open_fixture(vocab_dir, "gpt-2");
  const auto& base_tokens = gpt2->get_string_array("tokenizer.ggml.tokens");
  const auto& base_merges = gpt2->get_string_array("tokenizer.ggml.merges");
  const int64_t n_base = static_cast<int64_t>(base_merges.size()) + 256;
  EDGERAG_CHECK(static_cast<int64_t>(base_tokens.size()) >= n_base, "synth: gpt-2 fixture has too few tokens");

  // Ids of special and filler tokens: the specials' ids plus, for the padded
  // families, everything after the first special.
  std::vector<std::string> tokens(n_vocab);
  std::vector<int64_t> types(n_vocab, kNormal);
  std::vector<bool> special(n_vocab, false);
  int64_t n_special = 0;
  for (const Special& s : st.specials) {
    EDGERAG_CHECK(s.id >= 0 && s.id < n_vocab, "synth: vocabulary of {} is too small for {}", n_vocab, style);
    special[s.id] = true;
    tokens[s.id] = s.text;
  }
  const int64_t first_special = st.specials.front().id;
  int64_t filler = 0;
  if (first_special > 0)  // qwen2 / llama3 put specials (and reserved fillers) at the end
    for (int64_t id = first_special; id < n_vocab; ++id)
      if (!special[id]) {
        special[id] = true;
        tokens[id] = fmt::format(fmt::runtime(st.filler), filler++);
      }
  for (int64_t id = 0; id < n_vocab; ++id)
    if (special[id]) {
      types[id] = kControl;
      ++n_special;
    }
  const int64_t n_regular = n_vocab - n_special;
  EDGERAG_CHECK(n_regular >= 256, "synth: vocabulary of {} leaves no room for the byte tokens", n_vocab);

  std::vector<std::string> regular(base_tokens.begin(), base_tokens.begin() + std::min(n_regular, n_base));
  std::vector<std::string> merges(base_merges.begin(), base_merges.begin() + (regular.size() - 256));
  std::unordered_set<std::string> have(regular.begin(), regular.end());
  // Extend: word-initial tokens (GPT-2 rank order) + short continuations.
  for (int64_t i = 256; static_cast<int64_t>(regular.size()) < n_regular && i < n_base; ++i)
    for (int64_t j = 256; j < 512 && static_cast<int64_t>(regular.size()) < n_regular; ++j) {
      const std::string& a = base_tokens[i];
      const std::string& b = base_tokens[j];
      if (b.rfind("\xC4\xA0", 0) == 0) continue;  // 'Ġ' (a space) starts a new word
      std::string t = a + b;
      if (!have.insert(t).second) continue;
      merges.push_back(a + " " + b);
      regular.push_back(std::move(t));
    }
  EDGERAG_CHECK(static_cast<int64_t>(regular.size()) == n_regular, "synth: could not grow a {}-token vocabulary",
                n_vocab);
  for (int64_t id = 0, r = 0; id < n_vocab; ++id)
    if (!special[id]) tokens[id] = regular[r++];

  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", st.pre);
  w.set_string_array("tokenizer.ggml.tokens", std::move(tokens));
  w.set_i32_array("tokenizer.ggml.token_type", std::move(types));
  w.set_string_array("tokenizer.ggml.merges", std::move(merges));
  w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(st.bos));
  w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(st.eos));
  w.set_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(st.eot));
  w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(st.bos));
  w.set_bool("tokenizer.ggml.add_bos_token", st.add_bos);
  if (!st.chat_template.empty()) w.set_string("tokenizer.chat_template", st.chat_template);
  if (style == "modern-bert") {  // encoder input: [CLS] text [SEP]
    const int64_t b = st.bos - 1;
    w.set_bool("tokenizer.ggml.add_eos_token", true);
    w.set_bool("tokenizer.ggml.add_sep_token", true);
    w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(b));
    w.set_u32("tokenizer.ggml.seperator_token_id", static_cast<uint32_t>(st.eos));
    w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(b + 3));
    w.set_u32("tokenizer.ggml.mask_token_id", static_cast<uint32_t>(b + 4));
  }
}

}  // namespace

void write_synth_vocab(GgufWriter& w, const std::string& style, int64_t n_vocab, const std::string& vocab_dir) {
  if (style == "bert-bge" || style == "llama-spm" || style == "gpt-2") {
    auto f = open_fixture(vocab_dir, style);
    const auto n = static_cast<int64_t>(f->get_string_array("tokenizer.ggml.tokens").size());
    EDGERAG_CHECK(n == n_vocab, "synth: the {} vocabulary has {} tokens, the preset needs {}", style, n, n_vocab);
    copy_tokenizer_keys(w, *f);
    return;
  }
  write_generated_bpe(w, style, n_vocab, vocab_dir);
}

}  // namespace edgerag
