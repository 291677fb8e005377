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

// One piece of a prompt built by a chat template: plain text (never parsed
// for special tokens), or the text of a control token the template itself
// inserts ("<|im_start|>"), encoded as that token's id.
struct PromptPart {
  std::string text;
  bool special = false;
  // Plain text tokenized on its own, to exactly Tokenizer::encode(text) (for an
  // SPM vocabulary that adds a space prefix, with it): its ids never depend on
  // its neighbours (chunk KV reuse finds and keys a chunk by them).
  bool isolated = false;
};

// Immutable after loading; encode/decode may run concurrently from several threads.
class Tokenizer {
 public:
  // Throws edgerag::Error for a missing/unknown tokenizer model, an unknown
  // pre-tokenizer type or inconsistent metadata.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& f);
  ~Tokenizer();

  // llama_tokenize. add_special: BOS/EOS as the vocabulary asks for ([CLS] ... [SEP] for BERT).
  // parse_special: control token texts in `text` (e.g. "<|im_start|>") become those tokens;
  // user-defined tokens are always recognised. Malformed UTF-8 never throws.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special = false) const;
  // A chat prompt: special parts become their token when the vocabulary has
  // it as a control or user-defined token (else they are text); text parts
  // are encoded as by encode(.., parse_special = false). Adjacent text parts
  // are encoded as one run, so a prompt without control tokens encodes
  // exactly like its concatenated text.
  std::vector<int32_t> encode_parts(const std::vector<PromptPart>& parts, bool add_special) const;
  // BERT-style pair as llama.cpp builds rerank input: a + (EOS if add_eos) + (SEP if add_sep)
  // + b, i.e. [CLS] a [SEP] b [SEP]; a and b are text (special-token parsing off), only the
  // separators are control tokens. type_ids (optional): 0 through the separator after a, 1 after it.
  std::vector<int32_t> encode_pair(std::string_view a, std::string_view b, std::vector<int32_t>* type_ids) const;
  // llama_detokenize(remove_special, unparse_special = !remove_special): with remove_special a
  // leading BOS / trailing EOS is dropped and control tokens render as nothing; without it they
  // render as their text. SPM drops the prefix space of the first piece (unless a BOS was
  // removed); gpt-2 and BERT vocabularies remove the space before ".,!?" like llama.cpp.
  // Throws Error for ids outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids, bool remove_special = true) const;

  std::string token_to_piece(int32_t id) const;  // the bytes this token renders to (special tokens: their text)
  const std::string& token_text(int32_t id) const;
  float token_score(int32_t id) const;
  TokenType token_type(int32_t id) const;
  int32_t find_token(std::string_view text) const;  // -1 if absent
  int32_t n_vocab() const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;  // -1 when none; from metadata, else the first of <|eot_id|>, <|im_end|>, ...
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
