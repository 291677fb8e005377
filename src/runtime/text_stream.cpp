#include "runtime/text_stream.h"

#include <algorithm>
#include <deque>

#include "util/error.h"

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

}  // namespace

TextStream::TextStream(std::vector<std::string> stop) : nodes_(1) {
  std::erase_if(stop, [](const std::string& s) { return s.empty(); });
  EDGERAG_CHECK(stop.size() <= kMaxStopStrings, "{} stop strings, at most {} are allowed", stop.size(),
                kMaxStopStrings);
  for (const auto& s : stop) {
    EDGERAG_CHECK(s.size() <= kMaxStopBytes, "a stop string of {} bytes, at most {} are allowed", s.size(),
                  kMaxStopBytes);
    int32_t n = 0;
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      int32_t next = child(n, c);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        Node node;
        node.depth = nodes_[n].depth + 1;
        nodes_.push_back(std::move(node));
        nodes_[n].next.emplace_back(c, next);
      }
      n = next;
    }
    nodes_[n].out = nodes_[n].depth;
  }
  // Failure links breadth first: a node's fail is found from its parent's.
  std::deque<int32_t> queue;
  for (const auto& [c, n] : nodes_[0].next) queue.push_back(n);
  while (!queue.empty()) {
    const int32_t n = queue.front();
    queue.pop_front();
    nodes_[n].out = std::max(nodes_[n].out, nodes_[nodes_[n].fail].out);
    for (const auto& [c, m] : nodes_[n].next) {
      nodes_[m].fail = step(nodes_[n].fail, c);
      queue.push_back(m);
    }
  }
}

int32_t TextStream::child(int32_t node, unsigned char c) const {
  for (const auto& [ch, n] : nodes_[node].next)
    if (ch == c) return n;
  return -1;
}

int32_t TextStream::step(int32_t node, unsigned char c) const {
  for (;;) {
    if (const int32_t n = child(node, c); n >= 0) return n;
    if (node == 0) return 0;
    node = nodes_[node].fail;
  }
}

std::string TextStream::push(std::string_view piece) {
  if (stopped_) return {};
  std::string out;
  for (char ch : piece) {
    pending_ += ch;
    state_ = step(state_, static_cast<unsigned char>(ch));
    if (const int32_t len = nodes_[state_].out; len > 0) {
      out = pending_.substr(0, pending_.size() - static_cast<size_t>(len));
      pending_.clear();
      stopped_ = true;
      released_ += out;
      return out;
    }
  }
  // Held back: the longest suffix that starts a stop string, or a partial character.
  const size_t hold = std::max(static_cast<size_t>(nodes_[state_].depth), incomplete_utf8_tail(pending_));
  out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, out.size());
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
