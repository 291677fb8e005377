// int8 scalar-quantized vectors, the HNSW graph's points with `vectors = "int8"`.
// Each vector is stored as one float scale followed by dim int8 codes,
// code_i = round(v_i / scale) with scale = max|v_i| / 127 (per-vector scale:
// embeddings are L2-normalized, so one scale per vector loses little and needs
// no training pass). A graph of 384-dim vectors then holds 388 bytes per vector
// instead of 1,536; the distance is 1 - dot, as hnswlib's InnerProductSpace,
// computed in int32. Callers re-score the best candidates with the float
// vectors. (hnswlib.h defines non-inline symbols, so the hnswlib space class
// lives in the one file that includes it, rag/vector_index.cpp.)
#pragma once
#include <cstddef>
#include <cstdint>

namespace edgerag::rag {

// Bytes of one encoded vector.
constexpr size_t int8_code_bytes(size_t dim) { return sizeof(float) + dim; }
// Writes the encoding of v[0..dim) into out (int8_code_bytes(dim) bytes).
void int8_encode(const float* v, size_t dim, void* out);
// Approximate inner product of two encodings of dim codes.
float int8_dot(const void* a, const void* b, size_t dim);

// hnswlib's distance function over two encodings (`dim` points to their size_t dimension).
float int8_distance(const void* a, const void* b, const void* dim);

}  // namespace edgerag::rag
