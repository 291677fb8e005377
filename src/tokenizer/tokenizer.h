// Tokenizers loaded from GGUF metadata (`tokenizer.ggml.*`), matching
// llama.cpp's llama_tokenize / llama_detokenize token for token:
//   "llama": SentencePiece-style BPE over scores with <0xXX> byte fallback
//   "gpt2":  byte-level BPE over merges with a pre-tokenizer regex chosen by
//            `tokenizer.ggml.pre` (gpt-2, llama-bpe, qwen2, ...)
//   "bert":  WordPiece with BERT basic tokenization and `##` continuations
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.h"

namespace edgerag {

// Values of `tokenizer.ggml.token_type` (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

class Tokenizer {
 public:
  // Throws edgerag::Error for a missing/unknown tokenizer model or inconsistent metadata.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& f);
  virtual ~Tokenizer();

  // add_special: BOS/EOS (or [CLS]/[SEP]) as the vocabulary asks for.
  // parse_special: control / user-defined token texts in `text` become those tokens.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const;
  // BERT-style pair: [CLS] a [SEP] b [SEP]; type ids 0 for the first segment, 1 for the second.
  std::vector<int32_t> encode_pair(std::string_view a, std::string_view b, std::vector<int32_t>* type_ids) const;
  // remove_special drops control tokens (BOS/EOS/...); other tokens render via token_to_piece.
  std::string decode(const std::vector<int32_t>& ids, bool remove_special = true) const;

  std::string token_to_piece(int32_t id) const;  // the bytes this token renders to
  const std::string& token_text(int32_t id) const;
  float token_score(int32_t id) const;
  TokenType token_type(int32_t id) const;
  int32_t find_token(std::string_view text) const;  // -1 if absent
  int32_t n_vocab() const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;  // -1 when none
  int32_t cls_id() const;
  int32_t sep_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  bool add_bos() const;
  bool add_eos() const;
  bool is_eog(int32_t id) const;  // end of generation
  bool is_control(int32_t id) const;
  const std::string& model_kind() const;  // "llama" | "gpt2" | "bert"
  const std::string& pre_kind() const;    // tokenizer.ggml.pre or ""

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgerag
