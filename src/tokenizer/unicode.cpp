#include "tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <array>

namespace edgerag::unicode {
namespace {

// Decodes one sequence at `pos`; returns false for malformed input (llama.cpp
// checks the lead-byte pattern and continuation bytes, nothing more).
bool decode_one(std::string_view s, size_t& pos, uint32_t& cpt) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[pos + i]); };
  const auto cont = [&](size_t i) { return pos + i < s.size() && (b(i) & 0xC0) == 0x80; };
  const uint8_t c = b(0);
  if (!(c & 0x80)) {
    cpt = c;
    pos += 1;
    return true;
  }
  if (!(c & 0x40)) return false;
  if (!(c & 0x20)) {
    if (!cont(1)) return false;
    cpt = ((c & 0x1Fu) << 6) | (b(1) & 0x3Fu);
    pos += 2;
    return true;
  }
  if (!(c & 0x10)) {
    if (!cont(1) || !cont(2)) return false;
    cpt = ((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
    pos += 3;
    return true;
  }
  if (!(c & 0x08)) {
    if (!cont(1) || !cont(2) || !cont(3)) return false;
    cpt = ((c & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu);
    pos += 4;
    return true;
  }
  return false;
}

struct ByteMap {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 512> from_unicode;  // the alphabet lies below U+0200
  ByteMap() {
    from_unicode.fill(-1);
    const auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cpt = printable(b) ? b : next++;
      append_utf8(to_unicode[b], cpt);
      from_unicode[cpt] = static_cast<int16_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

}  // namespace

std::vector<uint32_t> decode_utf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cpt = 0;
    if (decode_one(s, pos, cpt)) {
      out.push_back(cpt);
    } else {
      out.push_back(0xFFFD);
      ++pos;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cpt) {
  if (cpt <= 0x7F) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | ((cpt >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

std::string sanitize_utf8(std::string_view s) {
  size_t pos = 0;
  uint32_t cpt = 0;
  while (pos < s.size() && decode_one(s, pos, cpt)) {
  }
  if (pos == s.size()) return std::string(s);
  std::string out(s.substr(0, pos));
  for (uint32_t c : decode_utf8(s.substr(pos))) append_utf8(out, c);
  return out;
}

CptFlags flags(uint32_t cpt) {
  const auto c = static_cast<UChar32>(cpt);
  const uint32_t gc = U_GET_GC_MASK(c);  // general category; Z* and unassigned set no flag
  CptFlags f;
  f.letter = gc & U_GC_L_MASK;
  f.number = gc & U_GC_N_MASK;
  f.punctuation = gc & U_GC_P_MASK;
  f.symbol = gc & U_GC_S_MASK;
  f.mark = gc & U_GC_M_MASK;
  f.control = gc & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK);
  f.whitespace = u_isUWhiteSpace(c);
  return f;
}

uint32_t to_lower(uint32_t cpt) { return static_cast<uint32_t>(u_tolower(static_cast<UChar32>(cpt))); }

uint32_t nfd_first(uint32_t cpt) {
  if (cpt < 0xC0) return cpt;  // nothing below U+00C0 decomposes canonically
  UErrorCode err = U_ZERO_ERROR;
  static const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(err);
  icu::UnicodeString d;
  if (nfd == nullptr || !nfd->getDecomposition(static_cast<UChar32>(cpt), d) || d.isEmpty()) return cpt;
  return static_cast<uint32_t>(d.char32At(0));
}

const std::string& byte_to_unicode(uint8_t byte) { return byte_map().to_unicode[byte]; }

int unicode_to_byte(uint32_t cpt) { return cpt < 512 ? byte_map().from_unicode[cpt] : -1; }

}  // namespace edgerag::unicode
