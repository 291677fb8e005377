// Splits a parsed document into chunks: sentences (ICU) packed up to a token
// budget with overlapping sentences, within one section (same headings and
// page); table rows packed under a repeated header. Every chunk keeps its
// provenance (headings, page, rows, byte range).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "rag/document.h"
#include "rag/ingest_types.h"

namespace edgerag::rag {

using TokenCounter = std::function<size_t(std::string_view)>;
size_t count_words(std::string_view text);  // the counter when no tokenizer is given

struct Chunk {
  std::string text;
  std::string headings;
  int page = 0;
  int64_t row_begin = -1, row_end = -1;
  int64_t byte_begin = 0, byte_end = 0;
  size_t n_tokens = 0;
};

// Sentence spans [begin, end) of `text` in bytes, whitespace trimmed, empty ones dropped.
std::vector<std::pair<size_t, size_t>> split_sentences(std::string_view text);

std::vector<Chunk> chunk_document(const ParsedDocument& doc, const ChunkOptions& opt, const TokenCounter& count);

}  // namespace edgerag::rag
