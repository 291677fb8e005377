#include "rag/text_fold.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

namespace edgerag::rag {
namespace {

bool is_word_char(utf8proc_int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
      return true;
    default:
      return false;
  }
}

// Marks that are diacritics of the scripts that write them optionally: combining
// diacritical blocks (Latin, Greek, Cyrillic accents after decomposition),
// Hebrew points and cantillation, Arabic harakat and Quranic marks.
bool is_diacritic(utf8proc_int32_t cp) {
  const auto cat = utf8proc_category(cp);
  if (cat != UTF8PROC_CATEGORY_MN && cat != UTF8PROC_CATEGORY_ME) return false;
  return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489) || (cp >= 0x0591 && cp <= 0x05C7) ||
         (cp >= 0x0610 && cp <= 0x061A) || (cp >= 0x064B && cp <= 0x065F) || cp == 0x0670 ||
         (cp >= 0x06D6 && cp <= 0x06ED) || (cp >= 0x08D3 && cp <= 0x08FF) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
         (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F);
}

bool is_cjk(utf8proc_int32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F);
}

void append_utf8(std::string& out, utf8proc_int32_t cp) {
  utf8proc_uint8_t buf[4];
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(utf8proc_encode_char(cp, buf)));
}

std::vector<utf8proc_int32_t> code_points(std::string_view s) {
  std::vector<utf8proc_int32_t> cps;
  auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  for (utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size()); left > 0;) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) break;  // callers pass valid UTF-8
    cps.push_back(cp);
    p += n;
    left -= n;
  }
  return cps;
}

}  // namespace

std::string fold_word(std::string_view word) {
  bool ascii = true;
  for (char c : word) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {  // the common case: NFKC and case folding of ASCII are lowercasing
    std::string out(word);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }
  // NFKD + case folding + default-ignorables removed, then diacritics out, then NFC.
  utf8proc_uint8_t* decomposed = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(word.data()), static_cast<utf8proc_ssize_t>(word.size()), &decomposed,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD |
                                     UTF8PROC_IGNORE));
  if (n < 0) return std::string(word);
  std::string kept;
  for (utf8proc_int32_t cp : code_points({reinterpret_cast<const char*>(decomposed), static_cast<size_t>(n)})) {
    if (is_diacritic(cp) || cp == 0x0640) continue;  // 0x0640: Arabic tatweel (elongation)
    if (cp == 0x0131) cp = 'i';                       // Turkish dotless i
    if (cp == 0x0111) cp = 'd';                       // Vietnamese đ (no decomposition)
    append_utf8(kept, cp);
  }
  std::free(decomposed);
  utf8proc_uint8_t* composed = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(kept.c_str()));
  if (!composed) return kept;
  std::string out(reinterpret_cast<const char*>(composed));
  std::free(composed);
  return out;
}

void fold_tokens(std::string_view text, const std::function<void(std::string_view, size_t, size_t)>& token) {
  std::string lower;  // reused: most words are ASCII, folded by lowercasing without an allocation
  auto emit_word = [&](size_t begin, size_t end, bool ascii) {
    if (begin == end) return;
    if (ascii) {  // what the general path below gives an ASCII word: one lowercased token
      lower.assign(text.substr(begin, end - begin));
      for (char& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      token(lower, begin, end);
      return;
    }
    const std::string folded = fold_word(text.substr(begin, end - begin));
    if (folded.empty()) return;
    // Split into CJK and other runs; CJK runs become bigrams.
    const std::vector<utf8proc_int32_t> cps = code_points(folded);
    size_t i = 0;
    while (i < cps.size()) {
      size_t j = i;
      const bool cjk = is_cjk(cps[i]);
      while (j < cps.size() && is_cjk(cps[j]) == cjk) ++j;
      if (!cjk || j - i == 1) {
        std::string t;
        for (size_t k = i; k < j; ++k) append_utf8(t, cps[k]);
        token(t, begin, end);
      } else {
        for (size_t k = i; k + 1 < j; ++k) {
          std::string t;
          append_utf8(t, cps[k]);
          append_utf8(t, cps[k + 1]);
          token(t, begin, end);
        }
      }
      i = j;
    }
  };
  auto* base = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t pos = 0, word_begin = 0;
  bool in_word = false, ascii = true;
  while (pos < text.size()) {
    const auto byte = static_cast<unsigned char>(text[pos]);
    bool word = false;
    utf8proc_ssize_t n = 1;
    if (byte < 0x80) {  // the ASCII word characters are exactly the letters and digits
      word = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') || (byte >= '0' && byte <= '9');
    } else {
      utf8proc_int32_t cp = 0;
      n = utf8proc_iterate(base + pos, static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
      word = n > 0 && is_word_char(cp);
    }
    if (word && !in_word) {
      word_begin = pos;
      ascii = true;
    }
    if (word && byte >= 0x80) ascii = false;
    if (!word && in_word) emit_word(word_begin, pos, ascii);
    in_word = word;
    pos += n > 0 ? static_cast<size_t>(n) : 1;  // an invalid byte separates words
  }
  if (in_word) emit_word(word_begin, text.size(), ascii);
}

}  // namespace edgerag::rag
