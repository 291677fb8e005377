#include "runtime/text_stream.h"

#include <algorithm>

namespace edgerag {
namespace {

// Bytes at the end of s that start a UTF-8 character not yet complete.
size_t incomplete_utf8_tail(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return len > back ? back : 0;
  }
  return 0;
}

// Longest suffix of s that is a proper prefix of some stop string.
size_t stop_prefix_tail(const std::string& s, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const auto& stop : stops)
    for (size_t len = std::min(s.size(), stop.size() - 1); len > best; --len)
      if (s.compare(s.size() - len, len, stop, 0, len) == 0) {
        best = len;
        break;
      }
  return best;
}

}  // namespace

TextStream::TextStream(std::vector<std::string> stop) : stop_(std::move(stop)) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });
}

std::string TextStream::push(std::string_view piece) {
  if (stopped_) return {};
  pending_ += piece;
  size_t hit = std::string::npos;
  for (const auto& stop : stop_) hit = std::min(hit, pending_.find(stop));
  std::string out;
  if (hit != std::string::npos) {
    out = pending_.substr(0, hit);
    pending_.clear();
    stopped_ = true;
  } else {
    const size_t hold = std::max(stop_prefix_tail(pending_, stop_), incomplete_utf8_tail(pending_));
    out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, out.size());
  }
  released_ += out;
  return out;
}

std::string TextStream::flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  pending_.clear();
  released_ += out;
  return out;
}

}  // namespace edgerag
