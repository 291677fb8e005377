#include "rag/reader.h"

#include <algorithm>
#include <filesystem>

#include "rag/reader_sheet.h"
#include "util/error.h"
#include "util/log.h"

namespace edgerag::rag {

std::string detect_file_type(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".txt" || ext == ".text") return "txt";
  if (ext == ".md" || ext == ".markdown") return "md";
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return "html";
  if (ext == ".pdf") return "pdf";
  if (ext == ".docx") return "docx";
  if (ext == ".pptx") return "pptx";
  if (ext == ".csv") return "csv";
  if (ext == ".xlsx" || ext == ".xlsm") return "xlsx";
  if (ext == ".ods") return "ods";
  if (ext == ".xls") return "xls";
  if (ext == ".jsonl" || ext == ".ndjson") return "jsonl";
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".tif" || ext == ".tiff" || ext == ".bmp" ||
      ext == ".gif" || ext == ".webp" || ext == ".pnm")
    return "image";
  return "";
}

// Spreadsheets are streamed and keep their own bounds (rag/reader_sheet.h);
// the rows and text limits are shared with the other table formats.
SheetLimits sheet_limits(const ReadLimits& l) {
  SheetLimits s;
  s.rows = l.rows;
  s.text_bytes = l.text_bytes;
  return s;
}

ParsedDocument read_document(const std::string& path, std::string_view bytes, const ReadOptions& opt) {
  std::string type = detect_file_type(path);
  const ReadLimits& lim = opt.limits;
  if (bytes.size() > lim.file_bytes)
    fail("file of {} bytes is over the limit of {} (limit file_bytes)", bytes.size(), lim.file_bytes);
  ParsedDocument doc;
  if (type == "txt") doc = read_plain_text(bytes, lim);
  else if (type == "md") doc = read_markdown(bytes, lim);
  else if (type == "html") doc = read_html(bytes, lim);
  else if (type == "pdf") doc = read_pdf(bytes, opt);
  else if (type == "docx") doc = read_docx(bytes, lim);
  else if (type == "pptx") doc = read_pptx(bytes, lim);
  else if (type == "csv") doc = read_csv(bytes, lim);
  else if (type == "jsonl") doc = read_jsonl(bytes, lim);
  else if (type == "xlsx") doc = read_xlsx(bytes, sheet_limits(lim));
  else if (type == "ods") doc = read_ods(bytes, sheet_limits(lim));
  else if (type == "xls") doc = read_xls(bytes);
  else if (type == "image") {
    if (!opt.ocr) fail("image file (enable OCR to index it)");
    doc = read_image(bytes, opt);
  } else {
    fail("unsupported file type");
  }
  for (const std::string& note : doc.notes) log(LogLevel::Info, "{}: {}", path, note);
  doc.file_type = type;
  if (doc.title.empty()) doc.title = std::filesystem::path(path).stem().string();
  return doc;
}

}  // namespace edgerag::rag
