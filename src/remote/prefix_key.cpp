#include "remote/prefix_key.h"

#include <algorithm>
#include <string>

namespace edgerag::remote {

std::vector<uint64_t> prefix_keys(const LlmPrompt& prompt, int tokens) {
  if (tokens <= 0) return {};
  const size_t cap = static_cast<size_t>(tokens) * 4;  // bytes: 4 per id, or 4 per estimated token
  std::string bytes;
  if (!prompt.messages.empty()) {
    for (const auto& m : prompt.messages) {
      if (bytes.size() >= cap) break;
      bytes.append(m.role).push_back('\0');  // the NULs keep the fields apart
      bytes.append(m.content).push_back('\0');
    }
  } else if (!prompt.ids.empty()) {
    bytes.assign(reinterpret_cast<const char*>(prompt.ids.data()), prompt.ids.size() * sizeof(int32_t));
  } else {
    bytes = prompt.text;
  }
  std::vector<size_t> levels;  // bytes, longest first
  for (size_t l = cap; levels.empty() || l >= 64 * 4; l /= 2) levels.push_back(l);
  std::reverse(levels.begin(), levels.end());
  std::vector<uint64_t> keys;
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
  size_t done = 0;
  for (size_t level : levels) {
    if (bytes.size() < level) break;
    for (; done < level; ++done) h = (h ^ static_cast<unsigned char>(bytes[done])) * 1099511628211ull;
    keys.push_back(h == 0 ? 1 : h);
  }
  return keys;
}

}  // namespace edgerag::remote
