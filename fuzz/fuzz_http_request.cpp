// libFuzzer target: the request framing of the HTTP connection layer. Any
// bytes, delivered in any split, must end in NeedMore, Complete or a 4xx/5xx
// error, the same one whatever the split, and a complete request must lie
// inside the input.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/http_framing.h"

using edgerag::server::FramingLimits;
using edgerag::server::RequestFramer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 17;  // the first byte picks how the bytes arrive
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const FramingLimits limits{.max_head_bytes = 4096, .max_target_bytes = 512, .max_headers = 32, .max_body_bytes = 8192};
  RequestFramer whole(limits), split(limits);
  const RequestFramer::Status a = whole.advance(in);
  RequestFramer::Status b = RequestFramer::Status::NeedMore;
  for (size_t n = std::min(step, in.size());; n = std::min(n + step, in.size())) {
    b = split.advance(in.substr(0, n));
    if (b != RequestFramer::Status::NeedMore || n == in.size()) break;
  }
  if (a != b) std::abort();
  if (a == RequestFramer::Status::Complete && (whole.request_bytes() > in.size() || whole.request_bytes() != split.request_bytes()))
    std::abort();
  if (a == RequestFramer::Status::Error && (whole.error_status() < 400 || whole.error_status() > 599)) std::abort();
  return 0;
}
