// Spreadsheets as rows: xlsx (SpreadsheetML) and ods (OpenDocument) read with
// libzip + libxml2's streaming reader, so a huge sheet never becomes a DOM;
// legacy xls is refused with a "convert to xlsx" error. Every visible sheet
// becomes a table whose first non-empty row is its header (repeated at the top
// of every chunk) and whose blocks are the following non-empty rows: cells
// joined by ", ", headings = the sheet name, row = the sheet's own 1-based row
// number (as the spreadsheet shows it). Formulas give their cached values;
// numbers are the stored values (dates stay serial numbers in xlsx); hidden
// sheets are skipped with a note.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rag/document.h"

namespace edgerag::rag {

struct SheetLimits {
  uint64_t unzipped_bytes = 256ull << 20;  // XML parts read, decompressed, in all
  uint64_t text_bytes = 64ull << 20;       // row text produced, in all
  size_t rows = 1'000'000;                 // non-empty rows over all sheets
  size_t columns = 16384;                  // column of any non-empty cell (Excel's maximum)
  size_t cells = 10'000'000;               // non-empty cells over all sheets
  size_t sheets = 1024;
};

ParsedDocument read_xlsx(std::string_view bytes, const SheetLimits& limits = {});
ParsedDocument read_ods(std::string_view bytes, const SheetLimits& limits = {});
// Throws: legacy BIFF workbooks are not read (save them as xlsx or ods).
ParsedDocument read_xls(std::string_view bytes);

}  // namespace edgerag::rag
