#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <bitset>

#include "tokenizer/encoders.h"
#include "tokenizer/vocab.h"
#include "util/error.h"

namespace edgerag {
namespace {

// A run of plain text (token < 0) or one special token.
struct Fragment {
  int32_t token;
  size_t off, len;
  bool text_start = false;  // SPM: gets the space prefix like the start of a text (an isolated part)
};

std::string escape_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == ' ')
      out += "\xE2\x96\x81";
    else
      out.push_back(c);
  }
  return out;
}

// llama.cpp's clean-up of spaces before punctuation and around apostrophes
// (llama_vocab::impl::detokenize, clean_spaces).
std::string clean_spaces(const std::string& in) {
  std::string a;  // " ?", " !", " .", " ," lose the space
  for (size_t i = 0; i < in.size(); ++i) {
    const char x = in[i];
    if (i > 0 && in[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',') && !a.empty()) a.pop_back();
    a.push_back(x);
  }
  std::string b;  // " ' " loses both spaces
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
      b.pop_back();
      b.push_back(x);
      ++i;
      continue;
    }
    b.push_back(x);
  }
  std::string c;  // " 's", " 'm", " 're", " 've" lose the space
  for (size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      const char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
      if (x1 == 's' || x1 == 'm' || (x2 != '\0' && ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))))
        c.pop_back();
    }
    c.push_back(x);
  }
  return c;
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<Vocab> vocab;
  std::bitset<256> special_first_byte;  // first bytes of special token texts
  std::vector<size_t> special_lengths;  // distinct special token text lengths

  // Splits `text` at special tokens exactly like llama.cpp's
  // tokenizer_st_partition: longest token texts first, each one splitting
  // every remaining text run at all its occurrences. Only tokens that occur
  // in `text` at all are tried, found with one scan.
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, 0, text.size()});
    const Vocab& v = *vocab;
    std::vector<char> present(v.special_tokens.size(), 0);
    bool any = false;
    for (size_t pos = 0; pos < text.size(); ++pos) {
      if (!special_first_byte[static_cast<uint8_t>(text[pos])]) continue;
      for (size_t len : special_lengths) {
        if (len > text.size() - pos) continue;
        const int32_t id = v.find(text.substr(pos, len));
        if (id < 0 || !(v.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown))) continue;
        const auto it = std::find(v.special_tokens.begin(), v.special_tokens.end(), id);
        present[it - v.special_tokens.begin()] = 1;
        any = true;
      }
    }
    if (!any) return frags;
    for (size_t k = 0; k < v.special_tokens.size(); ++k) {
      if (!present[k]) continue;
      const int32_t id = v.special_tokens[k];
      // Control and unknown tokens count only with parse_special; user-defined ones always.
      if (!parse_special && (v.attr[id] & (kAttrControl | kAttrUnknown))) continue;
      const std::string& tok = v.text[id];
      std::vector<Fragment> next;
      for (const Fragment& f : frags) {
        if (f.token >= 0) {
          next.push_back(f);
          continue;
        }
        size_t start = f.off;
        const size_t end = f.off + f.len;
        for (size_t m; (m = text.substr(0, end).find(tok, start)) != std::string_view::npos;) {
          if (m > start) next.push_back({-1, start, m - start});
          next.push_back({id, m, tok.size()});
          start = m + tok.size();
        }
        if (start < end) next.push_back({-1, start, end - start});
      }
      frags = std::move(next);
    }
    return frags;
  }

  // Token ids of `text` split into `frags` (BOS/EOS as the vocabulary asks when add_special).
  std::vector<int32_t> encode_fragments(std::string_view text, const std::vector<Fragment>& frags,
                                        bool add_special) const;

  void check_id(int32_t id) const {
    EDGERAG_CHECK(vocab->valid(id), "token id {} out of range (vocabulary has {} tokens)", id, vocab->n_tokens());
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
  auto impl = std::make_unique<Impl>();
  impl->vocab = Vocab::load(f);
  for (int32_t id : impl->vocab->special_tokens) {
    const std::string& t = impl->vocab->text[id];
    impl->special_first_byte.set(static_cast<uint8_t>(t[0]));
    if (std::find(impl->special_lengths.begin(), impl->special_lengths.end(), t.size()) == impl->special_lengths.end())
      impl->special_lengths.push_back(t.size());
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  return impl_->encode_fragments(text, impl_->partition(text, parse_special), add_special);
}

std::vector<int32_t> Tokenizer::encode_parts(const std::vector<PromptPart>& parts, bool add_special) const {
  const Vocab& v = *impl_->vocab;
  std::string text;
  std::vector<Fragment> frags;
  size_t run_start = 0;  // start of the text run not yet partitioned
  auto close_run = [&](bool text_start) {
    for (Fragment f : impl_->partition(std::string_view(text).substr(run_start), false)) {
      f.off += run_start;
      f.text_start = text_start;
      frags.push_back(f);
      text_start = false;
    }
    run_start = text.size();
  };
  for (const PromptPart& p : parts) {
    const int32_t id = p.special ? v.find(p.text) : -1;
    if (id >= 0 && (v.attr[id] & (kAttrControl | kAttrUserDefined))) {
      close_run(false);
      frags.push_back({id, text.size(), p.text.size()});
      text += p.text;
      run_start = text.size();
    } else if (p.isolated && !p.special) {
      close_run(false);
      text += p.text;
      close_run(true);
    } else {
      text += p.text;
    }
  }
  close_run(false);
  return impl_->encode_fragments(text, frags, add_special);
}

std::vector<int32_t> Tokenizer::Impl::encode_fragments(std::string_view text, const std::vector<Fragment>& frags,
                                                       bool add_special) const {
  const Vocab& v = *vocab;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  switch (v.kind) {
    case VocabKind::Spm: {
      if (add_special && v.add_bos) out.push_back(v.bos);
      bool prev_special = true;  // the text start counts as "after a special token"
      for (const Fragment& f : frags) {
        if (f.token >= 0) {
          out.push_back(f.token);
          prev_special = true;
          continue;
        }
        const std::string_view run = text.substr(f.off, f.len);
        const bool prefix = v.add_space_prefix && (prev_special || f.text_start);
        spm_encode(v, escape_spaces(prefix ? " " + std::string(run) : std::string(run)), out);
        prev_special = false;
      }
      if (add_special && v.add_eos) out.push_back(v.eos);
      break;
    }
    case VocabKind::Bpe:
      if (add_special && v.add_bos) out.push_back(v.bos);
      for (const Fragment& f : frags) {
        if (f.token >= 0)
          out.push_back(f.token);
        else
          bpe_encode(v, text.substr(f.off, f.len), out);
      }
      if (add_special && v.add_eos) out.push_back(v.eos);
      break;
    case VocabKind::Wpm:
      // BERT always wraps in [CLS] ... [SEP], whatever add_bos says.
      if (add_special) out.push_back(v.bos);
      for (const Fragment& f : frags) {
        if (f.token >= 0)
          out.push_back(f.token);
        else
          wpm_encode(v, text.substr(f.off, f.len), out);
      }
      if (add_special) out.push_back(v.sep);
      break;
  }
  return out;
}

std::vector<int32_t> Tokenizer::encode_pair(std::string_view a, std::string_view b,
                                            std::vector<int32_t>* type_ids) const {
  const Vocab& v = *impl_->vocab;
  EDGERAG_CHECK(v.sep >= 0 || v.eos >= 0, "encode_pair: the vocabulary has neither a separator nor an EOS token");
  // llama.cpp's rerank input: a + (EOS if add_eos) + (SEP if add_sep) + b. Only
  // the separators become control tokens: "[SEP]" or "</s>" in a query or a
  // document is text, so a passage cannot forge a segment boundary.
  std::vector<PromptPart> parts{{std::string(a), false}};
  int32_t boundary = -1;
  if (v.add_eos) parts.push_back({v.text[boundary = v.eos], true});
  if (v.add_sep || boundary < 0) parts.push_back({v.text[boundary = v.sep >= 0 ? v.sep : v.eos], true});
  parts.push_back({std::string(b), false});
  std::vector<int32_t> ids = encode_parts(parts, true);
  if (type_ids != nullptr) {
    type_ids->assign(ids.size(), 0);
    const size_t first = (v.add_bos || v.kind == VocabKind::Wpm) ? 1 : 0;
    const size_t a_len = encode(a, false).size();
    // Everything after the first segment and its separator(s) is segment 1.
    auto it = std::find(ids.begin() + std::min(ids.size(), first + a_len), ids.end(), boundary);
    for (auto j = it == ids.end() ? ids.end() : it + 1; j != ids.end(); ++j) (*type_ids)[j - ids.begin()] = 1;
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool remove_special) const {
  const Vocab& v = *impl_->vocab;
  for (int32_t id : ids) impl_->check_id(id);
  // Mirrors llama_detokenize(remove_special, unparse_special = !remove_special).
  size_t begin = 0, end = ids.size();
  bool remove_space = v.add_space_prefix;
  if (remove_special && v.add_bos && end > begin && ids[begin] == v.bos) {
    remove_space = false;
    ++begin;
  }
  if (remove_special && v.add_eos && end > begin && ids[end - 1] == v.eos) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const int32_t id = ids[i];
    if (remove_special && (v.attr[id] & (kAttrUnknown | kAttrControl))) {
      remove_space = false;
      continue;
    }
    std::string_view p = v.piece[id];
    if (remove_space && !p.empty() && p[0] == ' ') p.remove_prefix(1);
    remove_space = false;
    out += p;
  }
  return v.clean_spaces ? clean_spaces(out) : out;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab->piece[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab->text[id];
}

float Tokenizer::token_score(int32_t id) const {
  impl_->check_id(id);
  return impl_->vocab->score[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check_id(id);
  const uint32_t a = impl_->vocab->attr[id];
  if (a & kAttrControl) return TokenType::Control;
  if (a & kAttrUserDefined) return TokenType::UserDefined;
  if (a & kAttrUnknown) return TokenType::Unknown;
  if (a & kAttrByte) return TokenType::Byte;
  if (a & kAttrUnused) return TokenType::Unused;
  if (a & kAttrNormal) return TokenType::Normal;
  return TokenType::Undefined;
}

int32_t Tokenizer::find_token(std::string_view text) const { return impl_->vocab->find(text); }
int32_t Tokenizer::n_vocab() const { return impl_->vocab->n_tokens(); }
int32_t Tokenizer::bos_id() const { return impl_->vocab->bos; }
int32_t Tokenizer::eos_id() const { return impl_->vocab->eos; }
int32_t Tokenizer::eot_id() const { return impl_->vocab->eot; }
int32_t Tokenizer::cls_id() const { return impl_->vocab->cls; }
int32_t Tokenizer::sep_id() const { return impl_->vocab->sep; }
int32_t Tokenizer::pad_id() const { return impl_->vocab->pad; }
int32_t Tokenizer::unk_id() const { return impl_->vocab->unk; }
bool Tokenizer::add_bos() const { return impl_->vocab->add_bos; }
bool Tokenizer::add_eos() const { return impl_->vocab->add_eos; }
bool Tokenizer::is_eog(int32_t id) const { return impl_->vocab->eog.count(id) > 0; }
bool Tokenizer::is_control(int32_t id) const {
  return impl_->vocab->valid(id) && (impl_->vocab->attr[id] & kAttrControl);
}
const std::string& Tokenizer::model_kind() const { return impl_->vocab->model; }
const std::string& Tokenizer::pre_kind() const { return impl_->vocab->pre; }

}  // namespace edgerag
