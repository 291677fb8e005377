// Pieces shared by the two encoder architectures of model/bert.h (bert.cpp,
// modernbert.cpp). Not part of the public API.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "model/bert.h"
#include "tensor/ops.h"
#include "util/thread_pool.h"

namespace edgerag {

namespace bert_detail {

// A 2-D weight [cols, rows] (a 1-D tensor is one row) with the expected shape.
Matrix weight(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows);
// An F32 vector of n elements, or nullptr when absent and optional.
const float* vec(const GgufFile& f, const std::string& name, int64_t n, bool required = true);
// y = W x + b for n_tokens rows of x (b may be nullptr).
void linear(const Matrix& w, const float* b, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);
void layernorm_rows(float* x, const float* w, const float* b, int64_t n_tokens, int64_t n, float eps);

}  // namespace bert_detail
}  // namespace edgerag
