// A RAG-domain calibration set: chunk texts sampled from the user's edgerag
// index, so calibrated quantizers (gptq, awq, autoround) see the text the
// model will read at answer time rather than a generic corpus.
#pragma once
#include <string>

namespace edgerag {

// Up to max_chunks chunk texts spread evenly over the index's chunk ids (one per
// line, newlines inside a chunk kept), at most max_bytes in all. Throws when the
// index cannot be opened or holds no chunk.
std::string calibration_text_from_index(const std::string& dir, size_t max_chunks = 256,
                                        size_t max_bytes = 4u << 20);

}  // namespace edgerag
