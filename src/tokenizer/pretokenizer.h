// Splits text into words before byte-level BPE, with the regular expressions
// llama.cpp uses for each `tokenizer.ggml.pre` type. Patterns are applied in
// sequence: each one splits every piece left by the previous one, and the
// text between two matches stays a piece of its own.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag {

struct RegexSet;

class PreTokenizer {
 public:
  explicit PreTokenizer(const std::vector<std::string>& patterns);  // throws Error on a bad pattern
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // `utf8` must be well-formed UTF-8; returns the pieces as views into it. Thread-safe.
  std::vector<std::string_view> split(std::string_view utf8) const;

 private:
  std::unique_ptr<RegexSet> regexes_;
};

// The patterns of one pre-tokenizer type.
struct PreTokenizerSpec {
  std::vector<std::string> patterns;
  bool clean_spaces = true;    // detokenizer removes spaces before punctuation
  bool ignore_merges = false;  // a word that is itself a token skips the merges
  bool add_bos = false;        // type forces BOS (llama-3)
};
// Throws Error for a `tokenizer.ggml.pre` value this engine does not know.
PreTokenizerSpec pre_tokenizer_spec(const std::string& pre);

}  // namespace edgerag
