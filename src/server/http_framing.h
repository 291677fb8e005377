// Strict HTTP/1.1 request framing, decided on the raw bytes before any
// handler runs: where one request ends (Content-Length or chunked), and what
// is refused outright (conflicting lengths, unknown transfer or content
// codings, oversized heads and bodies). Pure and incremental, so the
// connection layer can call it on every read and the fuzzer on anything.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgerag::server {

struct FramingLimits {
  size_t max_head_bytes = 64u << 10;  // request line + headers (431 beyond)
  size_t max_target_bytes = 8u << 10; // request target (414 beyond)
  size_t max_headers = 100;           // header fields (431 beyond)
  size_t max_body_bytes = 16u << 20;  // decoded body, whatever the framing (413 beyond)
};

struct RequestHead {
  std::string method;
  std::string path;  // the target before '?', %XX-decoded (as the router sees it)
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  size_t bytes = 0;             // through the blank line
  bool chunked = false;
  uint64_t content_length = 0;  // when not chunked
  bool expect_continue = false;
  std::pair<size_t, size_t> expect_line{0, 0};  // byte range of the Expect field, to drop it once answered
  // The value of a header ("" when absent); `name` lower-case.
  std::string_view get(std::string_view name) const;
};

// One request's framing, fed the connection's bytes from the request's first
// byte on (the same buffer, growing). Remembers how far it has looked, so
// each call costs only the new bytes.
class RequestFramer {
 public:
  enum class Status { NeedMore, Complete, Error };
  explicit RequestFramer(FramingLimits limits = {}) : limits_(limits) {}

  Status advance(std::string_view buf);
  bool head_ready() const { return head_done_; }
  const RequestHead& head() const { return head_; }
  size_t request_bytes() const { return end_; }  // when Complete: head + body
  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }

 private:
  enum class Chunk { Size, Ext, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf, Done };
  Status fail(int status, std::string message);
  Status parse_head(std::string_view head);
  Status advance_chunked(std::string_view buf);

  FramingLimits limits_;
  RequestHead head_;
  bool head_done_ = false;
  size_t scanned_ = 0;  // bytes of buf already looked at
  size_t end_ = 0;
  int error_status_ = 0;
  std::string error_;
  // Chunked body state.
  Chunk chunk_ = Chunk::Size;
  uint64_t chunk_left_ = 0;  // data bytes left in the current chunk, or the size being read
  int size_digits_ = 0;
  size_t line_bytes_ = 0;    // of the current extension or trailer line
  uint64_t body_bytes_ = 0;  // decoded so far
  size_t trailer_bytes_ = 0;
};

}  // namespace edgerag::server
