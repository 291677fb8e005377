// Streaming text release for generation: pieces are appended as tokens arrive;
// text is released only when it cannot be the start of a stop string and does
// not end inside a UTF-8 character. The text is cut at the first stop string to
// complete (the longest, if several end at the same byte); it and everything
// after it are dropped.
//
// Stop strings are matched with an Aho-Corasick automaton fed each generated
// byte once, so a token costs time linear in its bytes whatever the stop strings
// are; their number and length are bounded (kMaxStopStrings, kMaxStopBytes).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgerag {

class TextStream {
 public:
  static constexpr size_t kMaxStopStrings = 16;
  static constexpr size_t kMaxStopBytes = 256;  // per stop string

  // Throws edgerag::Error past the limits above. Empty stop strings are ignored.
  explicit TextStream(std::vector<std::string> stop = {});

  // Appends a piece; returns the text newly safe to release.
  std::string push(std::string_view piece);
  // End of generation: releases everything held back (raw bytes, even a
  // truncated UTF-8 character) unless a stop string matched.
  std::string flush();
  bool stopped() const { return stopped_; }
  const std::string& text() const { return released_; }  // everything released so far

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;  // trie edges
    int32_t fail = 0;   // longest proper suffix that is also a trie node
    int32_t depth = 0;  // bytes of this node's prefix
    int32_t out = 0;    // length of the longest stop string ending here (0: none)
  };
  int32_t child(int32_t node, unsigned char c) const;  // -1 when none
  int32_t step(int32_t node, unsigned char c) const;   // the automaton's transition

  std::vector<Node> nodes_;  // nodes_[0] is the root
  int32_t state_ = 0;        // node of the longest suffix of the text that starts a stop string
  std::string pending_;
  std::string released_;
  bool stopped_ = false;
};

}  // namespace edgerag
