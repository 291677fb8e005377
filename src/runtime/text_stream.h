// Streaming text release for generation: pieces are appended as tokens arrive;
// text is released only when it cannot be the start of a stop string and does
// not end inside a UTF-8 character. A matched stop string and everything after
// it are dropped.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace edgerag {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop = {});

  // Appends a piece; returns the text newly safe to release.
  std::string push(std::string_view piece);
  // End of generation: releases everything held back (raw bytes, even a
  // truncated UTF-8 character) unless a stop string matched.
  std::string flush();
  bool stopped() const { return stopped_; }
  const std::string& text() const { return released_; }  // everything released so far

 private:
  std::vector<std::string> stop_;
  std::string pending_;
  std::string released_;
  bool stopped_ = false;
};

}  // namespace edgerag
