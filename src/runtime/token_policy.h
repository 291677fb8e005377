// The generation policy shared by every decoding path (Generator, the
// scheduler's requests in LocalLlm, SpecEngine): which generated token ends a
// request, which becomes text, and when text is released. A generated control
// token is no text; an end-of-generation token ends the request (when asked);
// text is released through a TextStream, so a stop string ends the request and
// is removed with everything after it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/text_stream.h"
#include "tokenizer/tokenizer.h"

namespace edgerag {

class TokenPolicy {
 public:
  // Throws edgerag::Error past TextStream's limits on stop strings.
  TokenPolicy(const Tokenizer& tok, std::vector<std::string> stop, bool stop_at_eog = true)
      : tok_(tok), stream_(std::move(stop)), stop_at_eog_(stop_at_eog) {}

  bool is_end(int32_t token) const { return stop_at_eog_ && tok_.is_eog(token); }
  // The text a generated (non-end) token releases; empty while held back.
  std::string push(int32_t token) { return tok_.is_control(token) ? std::string() : stream_.push(tok_.token_to_piece(token)); }
  bool stopped() const { return stream_.stopped(); }  // a stop string matched: end the request
  // At the end: whatever was held back (nothing once a stop string matched).
  std::string flush() { return stream_.flush(); }
  const std::string& text() const { return stream_.text(); }

 private:
  const Tokenizer& tok_;
  TextStream stream_;
  bool stop_at_eog_;
};

}  // namespace edgerag
