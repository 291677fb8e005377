// What `edgerag ingest` prints while it works: on a terminal one line redrawn
// in place (a bar), elsewhere plain lines a log can keep.
#pragma once
#include <string>

#include "rag/ingest_types.h"

namespace edgerag::rag {

// Seconds left at the files' pace so far; negative when not yet known.
double ingest_eta_seconds(const IngestProgress& p);

// "[#######.............]  7/20 files  140 chunks  35.0 chunks/s  ETA 0:04  notes/a.md"
// (`bar`: a terminal line, `width` columns at most) or
// "ingest: 7/20 files, 140 chunks, 35.0 chunks/s, ETA 0:04" (a log line).
std::string ingest_progress_text(const IngestProgress& p, bool bar, size_t width = 100);

}  // namespace edgerag::rag
