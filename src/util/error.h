// Error type used across edgerag: every failure carries a human-readable
// message naming the object (file, tensor, request) and the problem.
#pragma once
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace edgerag {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A request ran past its deadline (the server answers 504).
class DeadlineExceeded : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

#define EDGERAG_CHECK(cond, ...)          \
  do {                                    \
    if (!(cond)) ::edgerag::fail(__VA_ARGS__); \
  } while (0)

}  // namespace edgerag
