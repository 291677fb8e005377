// The three subword algorithms, each appending the ids of one run of plain
// text (special tokens already split off) to `out`.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace edgerag {

// SentencePiece BPE over token scores; `text` already has spaces as U+2581.
void spm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out);
// Byte-level BPE over merge ranks after the regex pre-tokenizer.
void bpe_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out);
// BERT basic tokenization, then greedy longest-match WordPiece per word.
void wpm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out);

}  // namespace edgerag
