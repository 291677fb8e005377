#include "rag/chunker.h"

#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include <memory>

#include "util/error.h"

namespace edgerag::rag {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// A sentence (or a piece of an over-long one) of a block: bytes [begin, end) of its text.
struct Unit {
  size_t block, begin, end, tokens;
};

struct BreakIterDeleter {
  void operator()(UBreakIterator* b) const { ubrk_close(b); }
};

UBreakIterator* sentence_iterator() {
  // Opening a break iterator loads ICU rule data: do it once per thread.
  // "ss=standard" keeps abbreviations such as "Dr." inside their sentence.
  thread_local std::unique_ptr<UBreakIterator, BreakIterDeleter> it;
  if (!it) {
    UErrorCode st = U_ZERO_ERROR;
    it.reset(ubrk_open(UBRK_SENTENCE, "en@ss=standard", nullptr, 0, &st));
    if (U_FAILURE(st)) fail("ICU sentence break iterator: {}", u_errorName(st));
  }
  return it.get();
}

// Over-long sentence: cut at whitespace into pieces that fit the budget.
void split_long(const std::string& text, size_t block, size_t begin, size_t end, size_t max_tokens,
                const TokenCounter& count, std::vector<Unit>& out) {
  size_t piece_begin = begin, piece_tokens = 0, pos = begin;
  while (pos < end) {
    size_t w = pos;
    while (w < end && is_space(text[w])) ++w;
    size_t we = w;
    while (we < end && !is_space(text[we])) ++we;
    if (w == we) break;
    size_t t = count(std::string_view(text).substr(w, we - w));
    if (piece_tokens > 0 && piece_tokens + t > max_tokens) {
      out.push_back({block, piece_begin, pos, piece_tokens});
      piece_begin = w;
      piece_tokens = 0;
    }
    if (piece_tokens == 0) piece_begin = w;
    piece_tokens += t;
    pos = we;
  }
  if (piece_tokens > 0) out.push_back({block, piece_begin, pos, piece_tokens});
}

size_t sum_tokens(const std::vector<Unit>& u, size_t a, size_t b) {
  size_t s = 0;
  for (size_t i = a; i < b; ++i) s += u[i].tokens;
  return s;
}

Chunk make_prose_chunk(const ParsedDocument& doc, const std::vector<Unit>& u, size_t a, size_t b) {
  Chunk c;
  const Block& first = doc.blocks[u[a].block];
  const Block& last = doc.blocks[u[b - 1].block];
  for (size_t i = a; i < b; ++i) {
    const std::string& t = doc.blocks[u[i].block].text;
    if (i > a && u[i].block == u[i - 1].block) {
      c.text.append(t, u[i - 1].end, u[i].end - u[i - 1].end);  // keep the original spacing
    } else {
      if (i > a) c.text += "\n\n";
      c.text.append(t, u[i].begin, u[i].end - u[i].begin);
    }
  }
  c.headings = first.headings;
  c.page = first.page;
  c.byte_begin = first.byte_begin + static_cast<int64_t>(u[a].begin);
  c.byte_end = last.byte_begin + static_cast<int64_t>(u[b - 1].end);
  c.n_tokens = sum_tokens(u, a, b);
  return c;
}

// Packs the units of one section into chunks with sentence overlap.
void pack_section(const ParsedDocument& doc, const std::vector<Unit>& u, const ChunkOptions& opt,
                  std::vector<Chunk>& out) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t i = 0, n = u.size();
  while (i < n) {
    size_t j = i, tokens = 0;
    while (j < n && (j == i || tokens + u[j].tokens <= opt.max_tokens)) tokens += u[j++].tokens;
    spans.emplace_back(i, j);
    if (j == n) break;
    size_t o = std::min(opt.overlap_sentences, j - i - 1);  // always move forward
    while (o > 0 && sum_tokens(u, j - o, j + 1) > opt.max_tokens) --o;
    i = j - o;
  }
  // A small trailing fragment joins the previous chunk when both fit the budget.
  if (spans.size() >= 2 && sum_tokens(u, spans.back().first, n) < opt.min_tokens &&
      sum_tokens(u, spans[spans.size() - 2].first, n) <= opt.max_tokens) {
    spans.pop_back();
    spans.back().second = n;
  }
  for (auto [a, b] : spans) out.push_back(make_prose_chunk(doc, u, a, b));
}

void chunk_table(const ParsedDocument& doc, const ChunkOptions& opt, const TokenCounter& count,
                 std::vector<Chunk>& out) {
  size_t i = 0, n = doc.blocks.size();
  while (i < n) {
    // Chunks stay inside one table (sheet) and start with its header.
    const std::string& headings = doc.blocks[i].headings;
    auto own = doc.table_headers.find(headings);
    const std::string& header = own != doc.table_headers.end() ? own->second : doc.table_header;
    size_t header_tokens = header.empty() ? 0 : count(header);
    size_t budget = opt.max_tokens > header_tokens ? opt.max_tokens - header_tokens : 1;
    Chunk c;
    c.text = header;
    c.headings = headings;
    size_t tokens = 0, j = i;
    while (j < n && doc.blocks[j].headings == headings) {
      size_t t = count(doc.blocks[j].text);
      if (j > i && tokens + t > budget) break;
      if (!c.text.empty()) c.text += '\n';
      c.text += doc.blocks[j].text;
      tokens += t;
      ++j;
    }
    c.row_begin = doc.blocks[i].row;
    c.row_end = doc.blocks[j - 1].row;
    c.byte_begin = doc.blocks[i].byte_begin;
    c.byte_end = doc.blocks[j - 1].byte_end;
    c.n_tokens = tokens + header_tokens;
    out.push_back(std::move(c));
    i = j;
  }
}

}  // namespace

size_t count_words(std::string_view text) {
  size_t n = 0;
  bool in_word = false;
  for (char c : text) {
    bool sp = is_space(c);
    if (!sp && !in_word) ++n;
    in_word = !sp;
  }
  return n;
}

std::vector<std::pair<size_t, size_t>> split_sentences(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> out;
  if (text.empty()) return out;
  UErrorCode st = U_ZERO_ERROR;
  UText* ut = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &st);
  if (U_FAILURE(st)) fail("ICU: cannot open text: {}", u_errorName(st));
  UBreakIterator* bi = sentence_iterator();
  ubrk_setUText(bi, ut, &st);
  if (U_FAILURE(st)) {
    utext_close(ut);
    fail("ICU: cannot split sentences: {}", u_errorName(st));
  }
  // Positions are native (UTF-8 byte) offsets because the text is a UTF-8 UText.
  for (int32_t b = ubrk_first(bi), e = ubrk_next(bi); e != UBRK_DONE; b = e, e = ubrk_next(bi)) {
    auto s = static_cast<size_t>(b), t = static_cast<size_t>(e);
    while (s < t && is_space(text[s])) ++s;
    while (t > s && is_space(text[t - 1])) --t;
    if (t > s) out.emplace_back(s, t);
  }
  ubrk_setText(bi, nullptr, 0, &st);  // drop the reference to `ut` before closing it
  utext_close(ut);
  return out;
}

std::vector<Chunk> chunk_document(const ParsedDocument& doc, const ChunkOptions& opt, const TokenCounter& count) {
  EDGERAG_CHECK(opt.max_tokens > 0, "chunk budget must be positive");
  std::vector<Chunk> out;
  if (doc.tabular) {
    chunk_table(doc, opt, count, out);
    return out;
  }
  size_t b = 0;
  while (b < doc.blocks.size()) {
    size_t e = b;
    while (e < doc.blocks.size() && doc.blocks[e].headings == doc.blocks[b].headings &&
           doc.blocks[e].page == doc.blocks[b].page)
      ++e;
    std::vector<Unit> units;
    for (size_t k = b; k < e; ++k) {
      const std::string& t = doc.blocks[k].text;
      for (auto [s, f] : split_sentences(t)) {
        size_t tokens = count(std::string_view(t).substr(s, f - s));
        if (tokens > opt.max_tokens) split_long(t, k, s, f, opt.max_tokens, count, units);
        else if (tokens > 0) units.push_back({k, s, f, tokens});
      }
    }
    if (!units.empty()) pack_section(doc, units, opt, out);
    b = e;
  }
  return out;
}

}  // namespace edgerag::rag
