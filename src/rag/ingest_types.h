// Options and reports of ingestion: how files become chunks, and what happened.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "rag/read_limits.h"

namespace edgerag::rag {

struct ChunkOptions {
  size_t max_tokens = 512;       // budget per chunk (embedding tokenizer, else words)
  size_t overlap_sentences = 1;  // sentences repeated at the start of the next chunk
  size_t min_tokens = 32;        // a trailing fragment below this merges into its neighbour
};

struct IngestOptions {
  std::string collection = "default";
  ChunkOptions chunk;
  bool ocr = false;            // OCR images and PDF pages without a text layer (tesseract)
  std::string ocr_language = "eng";
  bool prune = false;          // remove documents of this collection whose file is gone
  size_t embed_batch = 16;     // chunks per embedder call
  ReadLimits limits;           // per file: size, depth, counts, text, parse time
  // Chunk text held before it is committed: with `limits` this bounds the
  // memory of a run (and a crash loses at most one such batch).
  uint64_t batch_bytes = 16ull << 20;
};

// A document given as text rather than as a file (BEIR corpora, API clients).
struct TextDocument {
  std::string key;    // unique within the collection (stored as the document path)
  std::string title;  // indexed with the text and used as its headings path
  std::string text;
  std::string file_type = "text";
};

// What the file being processed goes through; Done once it is finished (indexed,
// unchanged or failed) and counted in files_done.
enum class IngestStage { Parse, Chunk, Embed, Done };
constexpr const char* ingest_stage_name(IngestStage s) {
  switch (s) {
    case IngestStage::Parse: return "parse";
    case IngestStage::Chunk: return "chunk";
    case IngestStage::Embed: return "embed";
    case IngestStage::Done: return "done";
  }
  return "?";
}

struct IngestProgress {
  IngestStage stage = IngestStage::Done;
  size_t files_done = 0, files_total = 0;
  size_t chunks = 0;           // chunks written so far in this run
  double seconds = 0;
  std::string current;         // file being processed
};
using ProgressFn = std::function<void(const IngestProgress&)>;

struct IngestReport {
  size_t files_seen = 0;
  size_t added = 0, updated = 0, unchanged = 0, removed = 0, failed = 0;
  size_t chunks_written = 0;
  double seconds = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // path, reason
  std::vector<std::string> missing;  // paths given that do not exist (also in failures)

  // Nothing could be ingested: a path given does not exist, or every file failed.
  bool all_failed() const { return !missing.empty() || (failed > 0 && added + updated + unchanged == 0); }
};

}  // namespace edgerag::rag
