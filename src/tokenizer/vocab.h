// A tokenizer vocabulary as llama.cpp loads it from GGUF metadata: token
// texts, scores and attributes, merges, special ids and the encode/decode
// switches with llama.cpp's defaults per model type.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "format/gguf.h"
#include "tokenizer/pretokenizer.h"

namespace edgerag {

// llama.cpp's llama_token_attr bits.
enum TokenAttr : uint32_t {
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
};

enum class VocabKind { Spm, Bpe, Wpm };

// Not noexcept on purpose: libstdc++ then stores each node's hash, so bucket
// scans compare cached hashes instead of rehashing every key they pass.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringViewHash, std::equal_to<>>;

struct Vocab {
  VocabKind kind = VocabKind::Spm;
  std::string model;  // tokenizer.ggml.model
  std::string pre;    // tokenizer.ggml.pre

  std::vector<std::string> text;
  std::vector<float> score;
  std::vector<uint32_t> attr;      // TokenAttr bits
  std::vector<std::string> piece;  // rendered bytes per token (special tokens as their text)
  StringIdMap token_to_id;

  // Byte-level BPE merges over "symbol ids": a token id for strings in the
  // vocabulary, ids from n_tokens() up for merge parts/results that are not.
  struct Merge {
    int32_t rank;    // lower merges first
    int32_t result;  // symbol id of left + right
  };
  std::unordered_map<uint64_t, Merge> merges;  // (left << 32 | right) -> merge
  std::array<int32_t, 256> byte_symbol{};      // symbol id of each byte's stand-in character, -1 if none
  static uint64_t merge_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  size_t max_token_len = 0;

  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, cls = -1, mask = -1;
  std::unordered_set<int32_t> eog;
  std::vector<int32_t> special_tokens;  // control/user-defined/unknown ids, longest text first

  bool add_bos = false, add_eos = false, add_sep = false;
  bool add_space_prefix = false;                // SPM: a space before the text (and after special tokens)
  bool clean_spaces = false;                    // detokenizer: " ," -> "," etc.
  bool ignore_merges = false;                   // BPE: a word that is a token is emitted as is
  bool lowercase = true, strip_accents = true;  // WordPiece normalizer
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // BPE only

  static std::unique_ptr<Vocab> load(const GgufFile& f);  // throws Error

  int32_t n_tokens() const { return static_cast<int32_t>(text.size()); }
  bool valid(int32_t id) const { return id >= 0 && id < n_tokens(); }
  int32_t find(std::string_view s) const {
    auto it = token_to_id.find(s);
    return it == token_to_id.end() ? -1 : it->second;
  }
  // SPM byte fallback token for `b` (<0xXX>, else the byte itself); -1 if absent.
  int32_t byte_token(uint8_t b) const;
};

}  // namespace edgerag
