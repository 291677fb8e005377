// Byte-level BPE as in llama.cpp's llm_tokenizer_bpe: split with the
// pre-tokenizer regexes, map each byte of a word to its printable stand-in,
// then repeatedly apply the lowest-ranked merge among adjacent symbols.
// Symbols carry interned ids (Vocab::merges), so a merge lookup is one
// integer-keyed probe instead of building and hashing strings.
#include <queue>
#include <string>

#include "tokenizer/encoders.h"
#include "tokenizer/unicode.h"

namespace edgerag {
namespace {

struct Symbol {
  int prev, next;
  size_t off, n;  // raw byte range in the word; n == 0 once merged away
  int32_t id;     // symbol id (-1: takes part in no merge and is no token)
};

struct Bigram {
  int left, right;
  int32_t rank, result;
  size_t size;
};

// Lowest rank first; on ties the leftmost pair.
struct BigramGreater {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

std::string byte_encode(std::string_view raw) {
  std::string out;
  for (char c : raw) out += unicode::byte_to_unicode(static_cast<uint8_t>(c));
  return out;
}

class WordEncoder {
 public:
  explicit WordEncoder(const Vocab& v) : v_(v) {}

  void encode(std::string_view word, std::vector<int32_t>& out) {
    if (v_.ignore_merges) {
      if (const int32_t id = v_.find(byte_encode(word)); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    sym_.clear();
    for (size_t i = 0; i < word.size(); ++i) {
      const int index = static_cast<int>(i);
      sym_.push_back(
          {index - 1, i + 1 == word.size() ? -1 : index + 1, i, 1, v_.byte_symbol[static_cast<uint8_t>(word[i])]});
    }
    for (int i = 1; i < static_cast<int>(sym_.size()); ++i) try_add(i - 1, i);

    while (!queue_.empty()) {
      const Bigram b = queue_.top();
      queue_.pop();
      Symbol& l = sym_[b.left];
      Symbol& r = sym_[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale: a side was merged since
      l.n += r.n;
      l.id = b.result;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) sym_[r.next].prev = b.left;
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }

    for (int i = sym_.empty() ? -1 : 0; i != -1; i = sym_[i].next) {
      const Symbol& s = sym_[i];
      if (v_.valid(s.id)) {
        out.push_back(s.id);
        continue;
      }
      // No token for the symbol: llama.cpp looks up each byte of its encoded
      // text on its own and drops those that are not tokens.
      const std::string text = byte_encode(word.substr(s.off, s.n));
      for (size_t j = 0; j < text.size(); ++j)
        if (const int32_t id = v_.find(std::string_view(text).substr(j, 1)); id >= 0) out.push_back(id);
    }
  }

 private:
  void try_add(int left, int right) {
    if (left < 0 || right < 0 || sym_[left].id < 0 || sym_[right].id < 0) return;
    const auto it = v_.merges.find(Vocab::merge_key(sym_[left].id, sym_[right].id));
    if (it != v_.merges.end())
      queue_.push({left, right, it->second.rank, it->second.result, sym_[left].n + sym_[right].n});
  }

  const Vocab& v_;
  std::vector<Symbol> sym_;
  std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue_;
};

}  // namespace

void bpe_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
  // Malformed UTF-8 is replaced by U+FFFD before splitting, as llama.cpp does.
  const std::string clean = unicode::sanitize_utf8(text);
  WordEncoder encoder(v);
  for (std::string_view word : v.pre_tokenizer->split(clean)) encoder.encode(word, out);
}

}  // namespace edgerag
