// Byte-level BPE as in llama.cpp's llm_tokenizer_bpe: split with the
// pre-tokenizer regexes, map each byte of a word to its printable stand-in,
// then repeatedly apply the lowest-ranked merge among adjacent symbols.
#include <queue>
#include <string>

#include "tokenizer/encoders.h"
#include "tokenizer/unicode.h"

namespace edgerag {
namespace {

struct Symbol {
  int prev, next;
  size_t off, n;  // byte range in the encoded word; n == 0 once merged away
};

struct Bigram {
  int left, right;
  int32_t rank;
  size_t size;
};

// Lowest rank first; on ties the leftmost pair.
struct BigramGreater {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

void encode_word(const Vocab& v, std::string_view word, std::vector<int32_t>& out) {
  if (v.ignore_merges) {
    if (const int32_t id = v.find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (size_t off = 0; off < word.size();) {
    const size_t n = std::min(unicode::utf8_len(word[off]), word.size() - off);
    const int index = static_cast<int>(sym.size());
    sym.push_back({index - 1, off + n == word.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue;
  std::string key;  // "left right", the form merges are stored in
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    key.assign(word.substr(sym[left].off, sym[left].n));
    key.push_back(' ');
    key.append(word.substr(sym[right].off, sym[right].n));
    auto it = v.merge_rank.find(key);
    if (it != v.merge_rank.end()) queue.push({left, right, it->second, sym[left].n + sym[right].n});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale: a side was merged since
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = sym.empty() ? -1 : 0; i != -1; i = sym[i].next) {
    const std::string_view s = word.substr(sym[i].off, sym[i].n);
    if (const int32_t id = v.find(s); id >= 0) {
      out.push_back(id);
      continue;
    }
    // No token for the merged symbol: llama.cpp looks up each byte on its own
    // and drops those that are not tokens.
    for (size_t j = 0; j < s.size(); ++j)
      if (const int32_t id = v.find(s.substr(j, 1)); id >= 0) out.push_back(id);
  }
}

}  // namespace

void bpe_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
  // Malformed UTF-8 is replaced by U+FFFD before splitting, as llama.cpp does.
  const std::string clean = unicode::sanitize_utf8(text);
  std::string word;
  for (std::string_view piece : v.pre_tokenizer->split(clean)) {
    word.clear();
    for (char c : piece) word += unicode::byte_to_unicode(static_cast<uint8_t>(c));
    encode_word(v, word, out);
  }
}

}  // namespace edgerag
