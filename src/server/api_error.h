// Errors the server answers with an OpenAI-style body:
//   {"error": {"message", "type", "param", "code"}}
#pragma once
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace edgerag::server {

class ApiError : public Error {
 public:
  ApiError(int status, std::string type, std::string message, std::string param = "", std::string code = "")
      : Error(message), status(status), type(std::move(type)), param(std::move(param)), code(std::move(code)) {}
  int status;
  std::string type;   // "invalid_request_error", "authentication_error", ...
  std::string param;  // the offending request field, if any
  std::string code;
  int retry_after_s = 0;  // > 0: sent as Retry-After (429/503)
};

inline nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& param = "",
                                 const std::string& code = "") {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
            {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}}}};
}

inline nlohmann::json error_body(const ApiError& e) { return error_body(e.what(), e.type, e.param, e.code); }

// What a request that threw `e` answers: an ApiError as thrown; a failed
// backend 502; Overloaded 429; any other edgerag::Error (the request's) or a
// field of the wrong JSON type 400; anything else 500, its details logged
// with `where`, not sent.
ApiError api_error_of(std::exception_ptr e, const std::string& where);

template <typename... Args>
[[noreturn]] void bad_param(const std::string& param, fmt::format_string<Args...> f, Args&&... args) {
  throw ApiError(400, "invalid_request_error", fmt::format(f, std::forward<Args>(args)...), param);
}

}  // namespace edgerag::server
