// SentencePiece-style BPE as in llama.cpp's llm_tokenizer_spm: start from
// UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is
// the highest-scoring token, then fall back to <0xXX> byte tokens.
#include <queue>

#include "tokenizer/encoders.h"
#include "tokenizer/unicode.h"

namespace edgerag {
namespace {

struct Symbol {
  int prev, next;
  size_t off, n;  // byte range in the text; n == 0 once merged away
};

struct Bigram {
  int left, right;
  float score;
  size_t size;
};

// Highest score first; on ties the leftmost pair.
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void spm_encode(const Vocab& v, std::string_view text, std::vector<int32_t>& out) {
  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(unicode::utf8_len(text[off]), text.size() - off);
    const int index = static_cast<int>(sym.size());
    sym.push_back({index - 1, off + n == text.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = sym[left].n + sym[right].n;
    const int32_t id = v.find(text.substr(sym[left].off, size));
    if (id >= 0) queue.push({left, right, v.score[id], size});
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
    const std::string_view s = text.substr(sym[i].off, sym[i].n);
    if (const int32_t id = v.find(s); id >= 0) {
      out.push_back(id);
      continue;
    }
    // A character with no token of its own: one byte token per byte
    // (llama.cpp aborts when a byte token is missing; we use <unk>).
    for (char c : s) {
      const int32_t id = v.byte_token(static_cast<uint8_t>(c));
      if (id >= 0 || v.unk >= 0) out.push_back(id >= 0 ? id : v.unk);
    }
  }
}

}  // namespace edgerag
