// Code-point level helpers shared by the tokenizers: UTF-8 decoding with
// llama.cpp's error policy, Unicode properties (from ICU), and the GPT-2
// byte <-> printable-character mapping of byte-level BPE.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag::unicode {

// Bytes in the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes).
inline size_t utf8_len(char lead) {
  static constexpr uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[static_cast<uint8_t>(lead) >> 4];
}

// Decodes UTF-8; each byte that does not start a well-formed sequence becomes U+FFFD.
std::vector<uint32_t> decode_utf8(std::string_view s);
void append_utf8(std::string& out, uint32_t cpt);
// `s` with every malformed byte replaced by U+FFFD (returned unchanged when valid).
std::string sanitize_utf8(std::string_view s);

struct CptFlags {
  bool letter = false, number = false, punctuation = false, symbol = false;
  bool mark = false, control = false, whitespace = false;
};
CptFlags flags(uint32_t cpt);
uint32_t to_lower(uint32_t cpt);
// First code point of the canonical decomposition (llama.cpp's per-code-point NFD table).
uint32_t nfd_first(uint32_t cpt);

// GPT-2 byte-level BPE alphabet: each byte maps to one printable code point.
const std::string& byte_to_unicode(uint8_t byte);
// Inverse of byte_to_unicode; -1 for code points outside the alphabet.
int unicode_to_byte(uint32_t cpt);

}  // namespace edgerag::unicode
