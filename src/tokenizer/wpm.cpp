// WordPiece as in llama.cpp's llm_tokenizer_wpm. The GGUF vocabulary marks
// word starts with U+2581 instead of marking continuations with "##".
#include <string>

#include "tokenizer/encoders.h"
#include "tokenizer/unicode.h"

namespace edgerag {
namespace {

// BERT's CJK ideograph ranges (the 0x2B920 bound copies the HF Rust code).
bool is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// BERT basic tokenization: whitespace split, control characters dropped,
// optional accent stripping and lowercasing, punctuation and CJK characters
// as words of their own.
std::vector<std::string> split_words(const Vocab& v, std::string_view text) {
  std::vector<std::string> words(1);
  for (uint32_t cpt : unicode::decode_utf8(text)) {
    if (v.strip_accents) cpt = unicode::nfd_first(cpt);
    const unicode::CptFlags f = unicode::flags(cpt);
    if (f.whitespace) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    if (cpt == 0 || cpt == 0xFFFD || f.control) continue;
    if (v.strip_accents && f.mark) continue;
    const uint32_t out = v.lowercase ? unicode::to_lower(cpt) : cpt;
    if (f.punctuation || (cpt < 0x7F && f.symbol) || is_chinese_char(cpt)) {
      if (!words.back().empty()) words.emplace_back();
      unicode::append_utf8(words.back(), out);
      words.emplace_back();
    } else {
      unicode::append_utf8(words.back(), out);
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

}  // namespace

void wpm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
  std::string word;
  for (const std::string& w : split_words(v, text)) {
    word = "\xE2\x96\x81" + w;
    const size_t n = word.size();
    const size_t start = out.size();
    // Longest vocabulary match at each position; a word with an unmatched
    // position becomes a single [UNK].
    for (size_t i = 0; i < n;) {
      size_t j = std::min(n, i + v.max_token_len + 1);
      int32_t id = -1;
      for (; j > i; --j)
        if ((id = v.find(std::string_view(word).substr(i, j - i))) >= 0) break;
      if (id < 0) {
        out.resize(start);
        break;
      }
      out.push_back(id);
      i = j;
    }
    if (out.size() == start && v.unk >= 0) out.push_back(v.unk);
  }
}

}  // namespace edgerag
