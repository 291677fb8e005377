// Test fixtures generated on the fly: a temporary folder, files, zip-based
// Office documents (libzip) and a hand-written PDF.
#pragma once
#include <unistd.h>
#include <zip.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "util/error.h"

namespace edgerag::test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "edgerag-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& rel) const { return (path / rel).string(); }
};

// The message of the edgerag::Error `fn` throws ("" if it returns).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline void write_file(const std::string& path, const std::string& data) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A zip archive with the given (name, content) entries, written with libzip.
inline std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string path = (std::filesystem::temp_directory_path() / fmt::format("edgerag-zip-{}.zip", getpid())).string();
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) std::abort();
  for (const auto& [name, data] : entries) {
    zip_source_t* src = zip_source_buffer(z, data.data(), data.size(), 0);
    if (!src || zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE) < 0) std::abort();
  }
  if (zip_close(z) != 0) std::abort();  // data buffers must live until here
  std::string bytes = read_text(path);
  std::filesystem::remove(path);
  return bytes;
}

inline std::string make_docx(const std::string& body_xml) {
  std::string doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
      "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>" +
      body_xml + "</w:body></w:document>";
  return make_zip({{"[Content_Types].xml", "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"},
                   {"word/document.xml", doc}});
}

inline std::string docx_para(const std::string& text, const std::string& style = "") {
  std::string ppr = style.empty() ? "" : "<w:pPr><w:pStyle w:val=\"" + style + "\"/></w:pPr>";
  return "<w:p>" + ppr + "<w:r><w:t xml:space=\"preserve\">" + text + "</w:t></w:r></w:p>";
}

// A slide with a title placeholder and body paragraphs.
inline std::string pptx_slide(const std::string& title, const std::vector<std::string>& body) {
  std::string s =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><p:sld "
      "xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" "
      "xmlns:p=\"http://schemas.openxmlformats.org/presentationml/2006/main\"><p:cSld><p:spTree>"
      "<p:sp><p:nvSpPr><p:cNvPr id=\"2\" name=\"Title\"/><p:cNvSpPr/><p:nvPr><p:ph type=\"title\"/></p:nvPr>"
      "</p:nvSpPr><p:txBody><a:p><a:r><a:t>" + title + "</a:t></a:r></a:p></p:txBody></p:sp>"
      "<p:sp><p:nvSpPr><p:cNvPr id=\"3\" name=\"Body\"/><p:cNvSpPr/><p:nvPr><p:ph idx=\"1\"/></p:nvPr></p:nvSpPr>"
      "<p:txBody>";
  for (const auto& b : body) s += "<a:p><a:r><a:t>" + b + "</a:t></a:r></a:p>";
  return s + "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>";
}

// A minimal valid PDF (Helvetica text, one content stream per page) with a correct xref table.
inline std::string make_pdf(const std::vector<std::string>& pages) {
  std::vector<std::string> objs;
  std::string kids;
  size_t n = pages.size();
  for (size_t i = 0; i < n; ++i) kids += fmt::format("{} 0 R ", 4 + 2 * i);
  objs.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objs.push_back(fmt::format("<< /Type /Pages /Kids [{}] /Count {} >>", kids, n));
  objs.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (size_t i = 0; i < n; ++i) {
    objs.push_back(fmt::format("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R "
                               "/Resources << /Font << /F1 3 0 R >> >> >>",
                               5 + 2 * i));
    std::string content = pages[i].empty() ? "" : "BT /F1 18 Tf 72 700 Td (" + pages[i] + ") Tj ET";
    objs.push_back(fmt::format("<< /Length {} >>\nstream\n{}\nendstream", content.size(), content));
  }
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objs.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += fmt::format("{} 0 obj\n{}\nendobj\n", i + 1, objs[i]);
  }
  size_t xref = pdf.size();
  pdf += fmt::format("xref\n0 {}\n0000000000 65535 f \n", objs.size() + 1);
  for (size_t off : offsets) pdf += fmt::format("{:010d} 00000 n \n", off);
  pdf += fmt::format("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{}\n%%EOF\n", objs.size() + 1, xref);
  return pdf;
}

}  // namespace edgerag::test
