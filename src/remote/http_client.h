// A small blocking HTTP client over libcurl for the remote backends: JSON
// requests with a bounded response, and POSTs whose server-sent events are
// handed over line by line as they arrive (OpenAI streaming). Every call has
// a connect timeout and a total timeout, and can be aborted from another
// thread. Responses are bounded (kMaxBody) so a hostile server cannot exhaust memory.
#pragma once
#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace edgerag::remote {

// A backend failed, not the request: no replica is up or answered, or one
// answered with a server error or a body the API does not promise. A server
// answers 502 (backend_unavailable).
class BackendError : public Error {
 public:
  using Error::Error;
};

struct HttpOptions {
  std::string api_key = {};     // sent as "Authorization: Bearer KEY" when set
  long connect_timeout_ms = 2000;
  long timeout_ms = 300000;     // the whole request, streaming included
  long read_timeout_s = 0;      // > 0: fail when no byte arrived for this long (a hung server)
};

struct HttpResult {
  long status = 0;        // 0: no HTTP response (connection refused, timeout, abort)
  std::string error;      // transport error when status is 0
  std::string body;       // the body of a non-streamed or non-2xx response
  bool connected() const { return status != 0; }
};

constexpr size_t kMaxBody = 64u << 20;   // any response body
constexpr size_t kMaxEventLine = 1u << 20;  // one SSE line

// GET (body empty) or POST of a JSON body; the response body is kept.
HttpResult http_json(const std::string& url, const std::string& body, const HttpOptions& opt);

// POST with "Accept: text/event-stream": each "data: ..." payload of a 2xx
// response goes to on_data as it arrives (return false to stop); a non-2xx
// response is kept in body. `abort` set by another thread ends the transfer.
HttpResult http_sse(const std::string& url, const std::string& body, const HttpOptions& opt,
                    const std::function<bool(const std::string&)>& on_data, const std::atomic<bool>* abort);

// Parses a server's JSON text; a syntax error or a text deeper or larger than
// any OpenAI-style answer (checked before the recursive parser runs) gives a
// discarded value, never a crash.
nlohmann::json parse_response(std::string_view text);

// The error message of an OpenAI-style error body, else the body itself (cut).
std::string error_message(const std::string& body);

}  // namespace edgerag::remote
