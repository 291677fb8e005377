// Every supported format, from fixtures generated here: text, headings path,
// page / row / byte provenance; broken files give a clear error.
#include <gtest/gtest.h>

#include <poppler-document.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include "fixtures.h"
#include "rag/chunker.h"
#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

std::vector<Chunk> chunks_of(const ParsedDocument& d, size_t max_tokens = 512) {
  return chunk_document(d, ChunkOptions{max_tokens, 1, 4}, count_words);
}

TEST(Readers, DetectsTypesByExtension) {
  EXPECT_EQ(detect_file_type("a/b.MD"), "md");
  EXPECT_EQ(detect_file_type("x.htm"), "html");
  EXPECT_EQ(detect_file_type("x.jsonl"), "jsonl");
  EXPECT_EQ(detect_file_type("x.png"), "image");
  EXPECT_EQ(detect_file_type("x.exe"), "");
  EXPECT_THROW(read_document("x.exe", "MZ", {}), Error);
  EXPECT_THROW(read_document("x.png", "png", {}), Error);  // images need OCR on
}

TEST(Readers, PlainTextParagraphsAreFileSlices) {
  std::string s = "First paragraph here.\nStill first.\n\n\n  Second one.  \n";
  auto d = read_plain_text(s);
  ASSERT_EQ(d.blocks.size(), 2u);
  for (const auto& b : d.blocks) EXPECT_EQ(s.substr(b.byte_begin, b.byte_end - b.byte_begin), b.text);
  EXPECT_EQ(d.blocks[1].text, "Second one.");
  EXPECT_THROW(read_plain_text(std::string("bin\0ary", 7)), Error);
}

TEST(Readers, MarkdownHeadingsPath) {
  std::string s =
      "# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n\n```\n# not a heading\n```\n\n"
      "### Linux\n\nUse apt.\n\nUsage\n-----\n\nCall it.\n";
  auto d = read_markdown(s);
  EXPECT_EQ(d.title, "Guide");
  ASSERT_EQ(d.blocks.size(), 5u);
  EXPECT_EQ(d.blocks[0].headings, "Guide");
  EXPECT_EQ(d.blocks[1].headings, "Guide > Install");
  EXPECT_EQ(d.blocks[2].text, "```\n# not a heading\n```");
  EXPECT_EQ(d.blocks[2].headings, "Guide > Install");
  EXPECT_EQ(d.blocks[3].headings, "Guide > Install > Linux");
  EXPECT_EQ(d.blocks[4].headings, "Guide > Usage");
  for (const auto& b : d.blocks) EXPECT_EQ(s.substr(b.byte_begin, b.byte_end - b.byte_begin), b.text);
}

TEST(Readers, HtmlVisibleTextAndHeadings) {
  auto d = read_html(
      "<html><head><title> My Page </title><style>p{}</style></head><body>"
      "<h1>Top</h1><p>Hello <b>world</b>.</p><script>var x = 1;</script>"
      "<h2>Sub</h2><ul><li>one</li><li>two</li></ul></body></html>");
  EXPECT_EQ(d.title, "My Page");
  ASSERT_EQ(d.blocks.size(), 3u);
  EXPECT_EQ(d.blocks[0].text, "Hello world.");
  EXPECT_EQ(d.blocks[0].headings, "Top");
  EXPECT_EQ(d.blocks[1].text, "one");
  EXPECT_EQ(d.blocks[2].headings, "Top > Sub");
  for (const auto& b : d.blocks) EXPECT_EQ(b.text.find("var x"), std::string::npos);
}

TEST(Readers, CsvRowsUnderRepeatedHeader) {
  std::string s = "name,city\nAda,London\n\"Bob, Jr\",\"Multi\nline\"\nCy,Paris\n";
  auto d = read_csv(s);
  EXPECT_EQ(d.table_header, "name,city");
  ASSERT_EQ(d.blocks.size(), 3u);
  EXPECT_EQ(d.blocks[1].text, "\"Bob, Jr\",\"Multi\nline\"");
  EXPECT_EQ(d.blocks[2].row, 3);
  // A budget of 5 words: the header takes 1, rows 1 + 3 fit in the other 4, the last row does not.
  auto c = chunks_of(d, 5);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].text, "name,city\nAda,London\n\"Bob, Jr\",\"Multi\nline\"");
  EXPECT_EQ(c[0].row_begin, 1);
  EXPECT_EQ(c[0].row_end, 2);
  EXPECT_EQ(c[1].text, "name,city\nCy,Paris");
  EXPECT_EQ(c[1].row_begin, 3);
  EXPECT_EQ(s.substr(c[1].byte_begin, c[1].byte_end - c[1].byte_begin), "Cy,Paris");
  EXPECT_THROW(read_csv("a,b\n\"open,1\n"), Error);
}

TEST(Readers, JsonlRowsInHeaderOrder) {
  std::string s = "{\"q\": \"why\", \"n\": 1}\n\n{\"n\": 2, \"q\": \"how\", \"x\": true}\n";
  auto d = read_jsonl(s);
  EXPECT_EQ(d.table_header, "q, n");
  ASSERT_EQ(d.blocks.size(), 2u);
  EXPECT_EQ(d.blocks[0].text, "why, 1");
  EXPECT_EQ(d.blocks[1].text, "how, 2, x=true");
  EXPECT_EQ(d.blocks[1].row, 2);
  EXPECT_EQ(s.substr(d.blocks[1].byte_begin, d.blocks[1].byte_end - d.blocks[1].byte_begin),
            "{\"n\": 2, \"q\": \"how\", \"x\": true}");
  EXPECT_THROW(read_jsonl("{\"a\": 1}\n{broken\n"), Error);
}

TEST(Readers, DocxHeadingStyles) {
  std::string bytes = test::make_docx(test::docx_para("Report", "Title") + test::docx_para("Scope", "Heading1") +
                                      test::docx_para("We measure latency.") + test::docx_para("Method", "Heading2") +
                                      "<w:tbl><w:tr><w:tc>" + test::docx_para("In a table cell.") +
                                      "</w:tc></w:tr></w:tbl>");
  auto d = read_docx(bytes);
  EXPECT_EQ(d.title, "Report");
  ASSERT_EQ(d.blocks.size(), 2u);
  EXPECT_EQ(d.blocks[0].text, "We measure latency.");
  EXPECT_EQ(d.blocks[0].headings, "Scope");
  EXPECT_EQ(d.blocks[1].text, "In a table cell.");
  EXPECT_EQ(d.blocks[1].headings, "Scope > Method");
  // Outline levels out of range (int overflow once) clamp to heading levels 1..9.
  auto outline = [](const std::string& v, const std::string& text) {
    return "<w:p><w:pPr><w:outlineLvl w:val=\"" + v + "\"/></w:pPr><w:r><w:t>" + text + "</w:t></w:r></w:p>";
  };
  d = read_docx(test::make_docx(outline("-99999999999", "Top") + outline("2147483647", "Deep") + test::docx_para("Body")));
  ASSERT_EQ(d.blocks.size(), 1u);
  EXPECT_EQ(d.blocks[0].headings, "Top > Deep");
  EXPECT_THROW(read_docx("not a zip"), Error);
  EXPECT_THROW(read_docx(test::make_zip({{"other.xml", "<a/>"}})), Error);
  EXPECT_THROW(read_docx(test::make_zip({{"word/document.xml", "<w:document><unclosed>"}})), Error);
}

TEST(Readers, PptxSlidesAsPages) {
  auto bytes = test::make_zip({{"ppt/slides/slide2.xml", test::pptx_slide("Results", {"Recall went up."})},
                               {"ppt/slides/slide10.xml", test::pptx_slide("Summary", {"It works."})},
                               {"ppt/slides/slide1.xml", test::pptx_slide("Intro", {"Edge RAG.", "Two lines."})}});
  auto d = read_pptx(bytes);
  EXPECT_EQ(d.title, "Intro");
  ASSERT_EQ(d.blocks.size(), 4u);
  EXPECT_EQ(d.blocks[0].text, "Edge RAG.");
  EXPECT_EQ(d.blocks[0].page, 1);
  EXPECT_EQ(d.blocks[0].headings, "Intro");
  EXPECT_EQ(d.blocks[2].text, "Recall went up.");
  EXPECT_EQ(d.blocks[2].page, 2);
  EXPECT_EQ(d.blocks[3].headings, "Summary");
  EXPECT_EQ(d.blocks[3].page, 3);  // slide10 comes after slide2
}

TEST(Readers, PdfPagesWithTextLayer) {
  auto d = read_pdf(test::make_pdf({"Alpha page talks about kernels.", "", "Gamma page covers caches."}), {});
  ASSERT_EQ(d.blocks.size(), 2u);
  EXPECT_NE(d.blocks[0].text.find("Alpha page talks about kernels."), std::string::npos);
  EXPECT_EQ(d.blocks[0].page, 1);
  EXPECT_EQ(d.blocks[1].page, 3);
  EXPECT_NE(d.blocks[1].text.find("caches"), std::string::npos);
  EXPECT_THROW(read_pdf("%PDF-1.4 garbage", {}), Error);
  EXPECT_THROW(read_pdf(test::make_pdf({""}), {}), Error);  // no text layer and no OCR
}

}  // namespace
}  // namespace edgerag::rag

namespace edgerag::rag {
namespace {

// OCR: render a PDF page to PNG with poppler, then read the image back with tesseract.
TEST(Readers, OcrOfRenderedPage) {
  test::TempDir t;
  std::string pdf = test::make_pdf({"QUARTERLY REVENUE GREW STRONGLY"});
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_raw_data(pdf.data(), static_cast<int>(pdf.size())));
  ASSERT_TRUE(doc);
  std::unique_ptr<poppler::page> page(doc->create_page(0));
  poppler::page_renderer r;
  poppler::image img = r.render_page(page.get(), 150, 150);
  ASSERT_TRUE(img.save(t / "scan.png", "png"));
  ReadOptions opt;
  opt.ocr = true;
  auto d = read_document(t / "scan.png", test::read_text(t / "scan.png"), opt);
  EXPECT_EQ(d.file_type, "image");
  ASSERT_FALSE(d.blocks.empty());
  EXPECT_NE(d.blocks[0].text.find("REVENUE"), std::string::npos) << d.blocks[0].text;
  // The path scanned PDF pages take: raw rendered pixels.
  std::string text = ocr_pixels(reinterpret_cast<const unsigned char*>(img.const_data()), img.width(), img.height(),
                                img.bytes_per_row(), "eng");
  EXPECT_NE(text.find("QUARTERLY"), std::string::npos) << text;
  EXPECT_THROW(read_image("not an image", opt), Error);
}

}  // namespace
}  // namespace edgerag::rag

// fontconfig (loaded by poppler for PDF fonts) keeps a process-lifetime cache
// that LeakSanitizer reports; it is not ours to free.
extern "C" const char* __lsan_default_suppressions() { return "leak:libfontconfig.so\n"; }
