// What readers produce from a file and the chunker consumes: the document's
// text as blocks, each with its place in the source (headings path, page, row,
// byte range).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace edgerag::rag {

struct Block {
  std::string text;
  std::string headings;  // "Intro > Setup"
  int page = 0;          // 1-based page or slide, 0 when not paged
  int64_t row = -1;      // 1-based data row (tables), -1 for prose
  // Source bytes of the block: in the file for text formats (then `text` is
  // exactly file[byte_begin, byte_end) for prose), in the extracted text otherwise.
  int64_t byte_begin = 0, byte_end = 0;
};

struct ParsedDocument {
  std::string file_type;     // txt, md, html, pdf, docx, pptx, csv, jsonl, image
  std::string title;
  std::vector<Block> blocks;
  std::string table_header;  // tables: repeated at the top of every chunk
  // Tables of several sheets: the header of the blocks whose `headings` (the
  // sheet name) is the key, used instead of table_header.
  std::map<std::string, std::string> table_headers;
  bool tabular = false;      // blocks are rows: chunk by rows, not sentences
  std::vector<std::string> notes;  // what the reader left out, e.g. hidden sheets
};

// Appends `text` as a block of the extracted text whose length is `*offset`
// so far (blocks separated by a blank line); skips blank text.
void append_block(ParsedDocument& doc, std::string text, const std::string& headings, int page, int64_t* offset);

}  // namespace edgerag::rag
