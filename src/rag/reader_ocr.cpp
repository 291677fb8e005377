// OCR with tesseract: image files (decoded by leptonica) and rendered pages.
#include <leptonica/allheaders.h>
#include <tesseract/baseapi.h>

#include <map>
#include <memory>

#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

// Loading a language model takes a while: keep one engine per language and thread.
tesseract::TessBaseAPI& engine(const std::string& language) {
  thread_local std::map<std::string, std::unique_ptr<tesseract::TessBaseAPI>> engines;
  auto& e = engines[language];
  if (!e) {
    auto api = std::make_unique<tesseract::TessBaseAPI>();
    if (api->Init(nullptr, language.c_str()) != 0) fail("tesseract: cannot load language '{}'", language);
    e = std::move(api);
  }
  return *e;
}

struct PixFree {
  void operator()(Pix* p) const { pixDestroy(&p); }
};

std::string recognize(tesseract::TessBaseAPI& api) {
  std::unique_ptr<char[]> text(api.GetUTF8Text());
  api.Clear();
  if (!text) fail("tesseract: recognition failed");
  return text.get();
}

}  // namespace

std::string ocr_image_file(std::string_view bytes, const std::string& language) {
  // Leptonica prints decoding errors to stderr; ours names the file instead.
  static const bool quiet = (setMsgSeverity(L_SEVERITY_NONE), true);
  (void)quiet;
  std::unique_ptr<Pix, PixFree> pix(pixReadMem(reinterpret_cast<const l_uint8*>(bytes.data()), bytes.size()));
  if (!pix) fail("not a readable image");
  auto& api = engine(language);
  api.SetImage(pix.get());
  return recognize(api);
}

std::string ocr_pixels(const unsigned char* argb, int width, int height, int stride, const std::string& language) {
  auto& api = engine(language);
  api.SetImage(argb, width, height, 4, stride);
  return recognize(api);
}

ParsedDocument read_image(std::string_view bytes, const ReadOptions& opt) {
  ParsedDocument doc;
  int64_t offset = 0;
  std::string text = ocr_image_file(bytes, opt.ocr_language);
  // Paragraphs are separated by blank lines in tesseract's output.
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find("\n\n", b);
    if (e == std::string::npos) e = text.size();
    std::string para = text.substr(b, e - b);
    for (char& c : para)
      if (c == '\n') c = ' ';
    append_block(doc, std::move(para), "", 0, &offset);
    b = e + 2;
  }
  if (doc.blocks.empty()) fail("no text recognized in the image");
  return doc;
}

}  // namespace edgerag::rag
