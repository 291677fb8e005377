// File readers: bytes of a file in, a ParsedDocument out. Each throws
// edgerag::Error for a broken file or one past its ReadLimits (nesting depth,
// decompressed size, rows, columns, keys, text length, parse time: no input
// crashes a reader or makes it use unbounded memory); read_document
// dispatches by extension.
#pragma once
#include <string>
#include <string_view>

#include "rag/document.h"
#include "rag/read_limits.h"

namespace edgerag::rag {

struct ReadOptions {
  bool ocr = false;               // OCR images and PDF pages without text
  std::string ocr_language = "eng";
  ReadLimits limits;
};

// txt, md, html, pdf, docx, pptx, csv, jsonl, xlsx, ods, xls (refused: rag/reader_sheet.h),
// image — or "" when unsupported.
std::string detect_file_type(const std::string& path);

ParsedDocument read_document(const std::string& path, std::string_view bytes, const ReadOptions& opt);

ParsedDocument read_plain_text(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_markdown(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_html(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_pdf(std::string_view bytes, const ReadOptions& opt);
ParsedDocument read_docx(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_pptx(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_csv(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_jsonl(std::string_view bytes, const ReadLimits& limits = {});
ParsedDocument read_image(std::string_view bytes, const ReadOptions& opt);

// OCR of an image (any format leptonica reads, or raw 32-bit pixels) with tesseract.
std::string ocr_image_file(std::string_view bytes, const std::string& language);
std::string ocr_pixels(const unsigned char* argb, int width, int height, int stride, const std::string& language);

}  // namespace edgerag::rag
