// Tokenizer metadata for synthetic models: a shared vocabulary fixture copied
// as is, or a byte-level BPE vocabulary of any size grown from the GPT-2 merges.
#pragma once
#include <string>

#include "format/gguf.h"

namespace edgerag {

// Writes every `tokenizer.*` key for a model with `n_vocab` tokens in `style`:
//   "bert-bge", "llama-spm", "gpt-2": the fixture ggml-vocab-<style>.gguf (its size must be n_vocab);
//   "qwen2", "llama3", "smollm", "modern-bert": generated BPE with that family's special tokens
//   and pre-tokenizer (needs the gpt-2 fixture for the base merges).
void write_synth_vocab(GgufWriter& w, const std::string& style, int64_t n_vocab, const std::string& vocab_dir);

}  // namespace edgerag
