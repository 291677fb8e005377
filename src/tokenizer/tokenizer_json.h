// Front end for Hugging Face tokenizer files: turns tokenizer.json (byte-level
// BPE: vocab, merges, added_tokens, pre-tokenizer) plus tokenizer_config.json
// and config.json special ids into the `tokenizer.*` GGUF metadata that
// Tokenizer::from_gguf reads, as llama.cpp's convert_hf_to_gguf.py writes it.
// The byte-level BPE and pre-tokenizers are then the same code as for GGUF files.
#pragma once
#include <cstdint>
#include <string>

#include "format/gguf.h"

namespace edgerag {

// Reads `dir`/tokenizer.json (required), tokenizer_config.json and config.json
// (optional) and sets every tokenizer.* key in `w`. `n_vocab` is the model's
// embedding row count: ids without a token become unused "[PAD{id}]" entries.
// Throws edgerag::Error for malformed files, non-BPE models, SentencePiece-style
// (byte_fallback) vocabularies and pre-tokenizer regexes this engine has no
// llama.cpp equivalent for.
void tokenizer_json_to_gguf(const std::string& dir, int64_t n_vocab, GgufWriter& w);

}  // namespace edgerag
