// PDF (poppler): one block per page with its text layer; pages without text
// are rendered and OCR'd when OCR is on (scanned documents). Text and time are
// checked after every page (compressed content streams can expand a lot).
#include <poppler-document.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <cstdint>
#include <memory>

#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {

ParsedDocument read_pdf(std::string_view bytes, const ReadOptions& opt) {
  // Poppler prints parse problems to stderr; a broken file is reported once, by our error.
  static const bool quiet = (poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr), true);
  (void)quiet;
  ReadBudget budget(opt.limits);
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) fail("PDF too large for the parser");
  std::unique_ptr<poppler::document> pdf(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!pdf) fail("not a readable PDF");
  if (pdf->is_locked()) fail("encrypted PDF");
  ParsedDocument doc;
  auto title = pdf->get_title().to_utf8();
  doc.title.assign(title.begin(), title.end());
  int64_t offset = 0;
  int n_pages = pdf->pages();
  for (int i = 0; i < n_pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) continue;
    auto utf8 = page->text().to_utf8();
    std::string text(utf8.begin(), utf8.end());
    // Layout line breaks are not sentence ends: keep them as spaces.
    for (char& c : text)
      if (c == '\n' || c == '\r' || c == '\f') c = ' ';
    if (text.find_first_not_of(' ') == std::string::npos && opt.ocr) {
      poppler::page_renderer renderer;
      poppler::image img = renderer.render_page(page.get(), 300, 300);
      if (img.is_valid() && img.format() == poppler::image::format_argb32)
        text = ocr_pixels(reinterpret_cast<const unsigned char*>(img.const_data()), img.width(), img.height(),
                          img.bytes_per_row(), opt.ocr_language);
    }
    append_block(doc, std::move(text), "", i + 1, &offset);
    budget.text(static_cast<uint64_t>(offset));
    budget.check_time();
  }
  if (doc.blocks.empty())
    fail("no extractable text in {} page(s){}", n_pages, opt.ocr ? "" : " (scanned? enable OCR)");
  return doc;
}

}  // namespace edgerag::rag
