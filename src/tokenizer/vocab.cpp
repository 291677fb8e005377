#include "tokenizer/vocab.h"

#include <algorithm>
#include <cstdlib>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace edgerag {
namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

uint32_t attr_from_type(int64_t type) {
  // tokenizer.ggml.token_type: 0 undefined, 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  static constexpr uint32_t kAttrs[] = {0,           kAttrNormal, kAttrUnknown, kAttrControl, kAttrUserDefined,
                                        kAttrUnused, kAttrByte};
  return type >= 0 && type < 7 ? kAttrs[type] : 0;
}

// SentencePiece text with U+2581 turned back into spaces.
std::string unescape_spaces(std::string_view s) {
  std::string out;
  for (size_t pos = 0;;) {
    const size_t hit = s.find(kSpace, pos);
    out.append(s.substr(pos, hit - pos));
    if (hit == std::string_view::npos) return out;
    out.push_back(' ');
    pos = hit + kSpace.size();
  }
}

// Token texts llama.cpp recognises as end-of-turn / end-of-message / FIM
// markers when the metadata does not name them (llama_vocab::impl::load).
// clang-format off
const char* const kEotTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                 "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
                                 "<end_of_utterance>"};
const char* const kEomTexts[] = {"<|eom_id|>"};
const char* const kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
const char* const kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
const char* const kFimSepTexts[] = {"<|file_sep|>"};
const char* const kEogTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
                                 "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
                                 "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
                                 "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["};
// clang-format on

std::string render_piece(const Vocab& v, int32_t id) {
  const uint32_t a = v.attr[id];
  const std::string& t = v.text[id];
  if (a & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return t;
  if (a & kAttrByte) {
    if (t.size() == 6 && t.compare(0, 3, "<0x") == 0)
      return std::string(1, static_cast<char>(std::strtol(t.substr(3, 2).c_str(), nullptr, 16)));
    return t;
  }
  if (!(a & kAttrNormal)) return {};
  if (v.kind != VocabKind::Bpe) return unescape_spaces(t);
  // Byte-level BPE: every code point stands for one byte.
  std::string out;
  for (uint32_t cpt : unicode::decode_utf8(t)) {
    const int b = unicode::unicode_to_byte(cpt);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      std::string utf8;
      unicode::append_utf8(utf8, cpt);
      out += "[UNK_BYTE_0x";
      for (unsigned char c : utf8) out += fmt::format("{:02x}", c);
      out += t + "]";
    }
  }
  return out;
}

}  // namespace

int32_t Vocab::byte_token(uint8_t b) const {
  const int32_t id = find(fmt::format("<0x{:02X}>", b));
  return id >= 0 ? id : find(std::string_view(reinterpret_cast<const char*>(&b), 1));
}

std::unique_ptr<Vocab> Vocab::load(const GgufFile& f) {
  auto v = std::make_unique<Vocab>();
  const std::string& path = f.path();
  EDGERAG_CHECK(f.has("tokenizer.ggml.model"), "{}: no tokenizer (tokenizer.ggml.model missing)", path);
  v->model = f.get_string("tokenizer.ggml.model");
  v->pre = f.get_string("tokenizer.ggml.pre", "");

  if (v->model == "llama") {
    v->kind = VocabKind::Spm;
    v->bos = 1, v->eos = 2, v->unk = 0;
    v->add_space_prefix = true;
    v->add_bos = true;
  } else if (v->model == "bert") {
    v->kind = VocabKind::Wpm;
    v->bos = 101, v->unk = 100, v->sep = 102, v->pad = 0, v->mask = 103;
    v->clean_spaces = true;
    v->add_bos = true;
    v->add_sep = true;
  } else if (v->model == "gpt2") {
    v->kind = VocabKind::Bpe;
    v->bos = 11, v->eos = 11;
    PreTokenizerSpec spec = pre_tokenizer_spec(v->pre);
    v->clean_spaces = spec.clean_spaces;
    v->ignore_merges = spec.ignore_merges;
    v->add_bos = spec.add_bos;
    v->pre_tokenizer = std::make_unique<PreTokenizer>(spec.patterns);
  } else {
    fail("{}: unknown tokenizer model '{}' (supported: llama, gpt2, bert)", path, v->model);
  }
  v->add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", v->add_space_prefix);

  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  EDGERAG_CHECK(!tokens.empty(), "{}: tokenizer.ggml.tokens missing or empty", path);
  EDGERAG_CHECK(tokens.size() < (1u << 31), "{}: vocabulary too large", path);
  const size_t n = tokens.size();
  const auto scores = f.get_float_array("tokenizer.ggml.scores");
  const auto types = f.get_int_array("tokenizer.ggml.token_type");
  EDGERAG_CHECK(scores.empty() || scores.size() >= n, "{}: {} scores for {} tokens", path, scores.size(), n);
  EDGERAG_CHECK(types.empty() || types.size() >= n, "{}: {} token types for {} tokens", path, types.size(), n);

  v->text.resize(n);
  v->score.assign(n, 0.0f);
  v->attr.assign(n, kAttrNormal);
  v->token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string word = tokens[i].empty() ? fmt::format("[EMPTY_{}]", i) : tokens[i];
    const auto [it, inserted] = v->token_to_id.emplace(word, static_cast<int32_t>(i));
    EDGERAG_CHECK(inserted, "{}: duplicate token '{}' (ids {} and {})", path, word, it->second, i);
    v->max_token_len = std::max(v->max_token_len, word.size());
    v->text[i] = std::move(word);
    if (!scores.empty()) v->score[i] = static_cast<float>(scores[i]);
    if (!types.empty()) v->attr[i] = attr_from_type(types[i]);
  }

  if (v->kind == VocabKind::Bpe) {
    const auto& merges = f.get_string_array("tokenizer.ggml.merges");
    EDGERAG_CHECK(!merges.empty(), "{}: byte-level BPE vocabulary without tokenizer.ggml.merges", path);
    StringIdMap extra;  // merge strings that are not tokens
    const auto symbol = [&](std::string_view s, bool create) -> int32_t {
      if (const int32_t id = v->find(s); id >= 0) return id;
      if (auto it = extra.find(s); it != extra.end()) return it->second;
      if (!create) return -1;
      const auto id = static_cast<int32_t>(n + extra.size());
      extra.emplace(std::string(s), id);
      return id;
    };
    v->merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      // "left right", split at the first space after the first byte as llama.cpp does;
      // a merge without one never matches.
      const std::string_view m = merges[i];
      const size_t pos = m.find(' ', 1);
      if (pos == std::string_view::npos) continue;
      const int32_t left = symbol(m.substr(0, pos), true);
      const int32_t right = symbol(m.substr(pos + 1), true);
      const std::string joined = std::string(m.substr(0, pos)) + std::string(m.substr(pos + 1));
      v->merges.emplace(merge_key(left, right), Merge{static_cast<int32_t>(i), symbol(joined, true)});
    }
    for (int b = 0; b < 256; ++b) v->byte_symbol[b] = symbol(unicode::byte_to_unicode(static_cast<uint8_t>(b)), false);
  }

  // Special ids: metadata overrides the model-type defaults when in range.
  const int32_t n_tok = v->n_tokens();
  const std::pair<const char*, int32_t*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &v->bos},     {"tokenizer.ggml.eos_token_id", &v->eos},
      {"tokenizer.ggml.eot_token_id", &v->eot},     {"tokenizer.ggml.eom_token_id", &v->eom},
      {"tokenizer.ggml.unknown_token_id", &v->unk}, {"tokenizer.ggml.seperator_token_id", &v->sep},
      {"tokenizer.ggml.padding_token_id", &v->pad}, {"tokenizer.ggml.mask_token_id", &v->mask},
      {"tokenizer.ggml.cls_token_id", &v->cls},
  };
  for (const auto& [key, id] : ids) {
    if (*id >= n_tok) *id = -1;
    const int64_t value = f.get_int(key, -1);
    if (value >= 0 && value < n_tok) *id = static_cast<int32_t>(value);
  }
  if (v->cls < 0 && v->kind == VocabKind::Wpm) v->cls = v->bos;  // BERT's BOS is [CLS]

  v->add_bos = f.get_bool("tokenizer.ggml.add_bos_token", v->add_bos);
  v->add_eos = f.get_bool("tokenizer.ggml.add_eos_token", v->add_eos);
  v->add_sep = f.get_bool("tokenizer.ggml.add_sep_token", v->add_sep);
  EDGERAG_CHECK(!v->add_bos || v->bos >= 0, "{}: add_bos_token is true but there is no BOS token", path);
  EDGERAG_CHECK(!v->add_eos || v->eos >= 0, "{}: add_eos_token is true but there is no EOS token", path);
  EDGERAG_CHECK(!v->add_sep || v->sep >= 0, "{}: add_sep_token is true but there is no separator token", path);
  v->lowercase = f.get_bool("tokenizer.ggml.normalizer.lowercase", v->lowercase);
  v->strip_accents = f.get_bool("tokenizer.ggml.normalizer.strip_accents", v->lowercase);

  // Auto-detected markers become control tokens. Where several texts exist,
  // the earliest in each list wins (llama.cpp's pick depends on hash order).
  const auto detect = [&](const auto& texts, int32_t* id) {
    for (const char* t : texts) {
      const int32_t found = v->find(t);
      if (found < 0) continue;
      v->attr[found] |= kAttrControl;
      if (id != nullptr && *id < 0) *id = found;
      if (id != nullptr) return;
    }
  };
  int32_t fim_pad = -1, fim_rep = -1, fim_sep = -1;
  for (const auto& [key, id] :
       {std::pair{"tokenizer.ggml.fim_pad_token_id", &fim_pad}, std::pair{"tokenizer.ggml.fim_rep_token_id", &fim_rep},
        std::pair{"tokenizer.ggml.fim_sep_token_id", &fim_sep}}) {
    const int64_t value = f.get_int(key, -1);
    if (value >= 0 && value < n_tok) *id = static_cast<int32_t>(value);
  }
  detect(kEotTexts, &v->eot);
  detect(kEomTexts, &v->eom);
  detect(kFimPadTexts, &fim_pad);
  detect(kFimRepTexts, &fim_rep);
  detect(kFimSepTexts, &fim_sep);
  detect(kEogTexts, nullptr);
  for (const char* t : kEogTexts)
    if (const int32_t id = v->find(t); id >= 0) v->eog.insert(id);
  for (int32_t id : {fim_pad, fim_rep, fim_sep, v->eos, v->eot, v->eom})
    if (id >= 0) v->eog.insert(id);

  for (int32_t id = 0; id < n_tok; ++id)
    if (v->attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v->special_tokens.push_back(id);
  std::stable_sort(v->special_tokens.begin(), v->special_tokens.end(),
                   [&](int32_t a, int32_t b) { return v->text[a].size() > v->text[b].size(); });

  v->piece.resize(n);
  for (int32_t id = 0; id < n_tok; ++id) v->piece[id] = render_piece(*v, id);
  return v;
}

}  // namespace edgerag
