#include "rag/document.h"

namespace edgerag::rag {

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void append_block(ParsedDocument& doc, std::string text, const std::string& headings, int page, int64_t* offset) {
  size_t s = 0, e = text.size();
  while (s < e && is_blank(text[s])) ++s;
  while (e > s && is_blank(text[e - 1])) --e;
  if (s == e) return;
  text = text.substr(s, e - s);
  if (*offset > 0) *offset += 2;  // the blank line between blocks of the extracted text
  Block blk;
  blk.headings = headings;
  blk.page = page;
  blk.byte_begin = *offset;
  blk.byte_end = *offset + static_cast<int64_t>(text.size());
  *offset = blk.byte_end;
  blk.text = std::move(text);
  doc.blocks.push_back(std::move(blk));
}

}  // namespace edgerag::rag
