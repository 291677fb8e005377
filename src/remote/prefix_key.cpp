#include "remote/prefix_key.h"

#include <algorithm>
#include <string_view>

namespace edgerag::remote {

namespace {

// FNV-1a, 64 bits.
struct Hash {
  uint64_t h = 1469598103934665603ull;
  size_t left;
  explicit Hash(size_t bytes) : left(bytes) {}
  void add(const void* p, size_t n) {
    n = std::min(n, left);
    left -= n;
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
  }
  void add(std::string_view s) { add(s.data(), s.size() + 1); }  // with its NUL: fields stay apart
};

}  // namespace

uint64_t prefix_key(const LlmPrompt& prompt, int tokens) {
  if (tokens <= 0) return 0;
  Hash hash(static_cast<size_t>(tokens) * 4);
  if (!prompt.messages.empty()) {
    for (const auto& m : prompt.messages) hash.add(m.role), hash.add(m.content);
  } else if (!prompt.ids.empty()) {
    hash.add(prompt.ids.data(), prompt.ids.size() * sizeof(int32_t));
  } else if (!prompt.text.empty()) {
    hash.add(prompt.text.data(), prompt.text.size());
  } else {
    return 0;
  }
  return hash.h == 0 ? 1 : hash.h;
}

}  // namespace edgerag::remote
