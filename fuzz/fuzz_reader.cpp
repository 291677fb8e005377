// libFuzzer target for one document reader, chosen at build time by the file
// extension EDGERAG_FUZZ_READER_EXT ("html", "docx", ...): any byte string is
// read into a document or raises edgerag::Error (a clear per-file error);
// anything else (a crash, a leak, another exception, unbounded memory) is a bug.
//
// For the zip formats (docx, pptx, xlsx, ods) an input that is not a zip is
// first packed as the format's main XML part (next to fixed other parts), so
// mutations reach the XML walkers instead of dying at the archive's CRC.
#include <zip.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rag/reader.h"
#include "util/error.h"
#include "util/log.h"

namespace {

constexpr std::string_view kExt = EDGERAG_FUZZ_READER_EXT;

using Parts = std::vector<std::pair<std::string, std::string>>;

// The parts around `xml` for the zip formats; empty for the others.
Parts parts_around(std::string xml) {
  const std::string ct = "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
  if (kExt == "docx") return {{"[Content_Types].xml", ct}, {"word/document.xml", std::move(xml)}};
  if (kExt == "pptx") return {{"[Content_Types].xml", ct}, {"ppt/slides/slide1.xml", std::move(xml)}};
  if (kExt == "ods") return {{"content.xml", std::move(xml)}};
  if (kExt == "xlsx")
    return {{"[Content_Types].xml", ct},
            {"xl/workbook.xml",
             "<workbook xmlns:r=\"r\"><sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"},
            {"xl/_rels/workbook.xml.rels",
             "<Relationships><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/></Relationships>"},
            {"xl/sharedStrings.xml", "<sst><si><t>a</t></si><si><r><t>b</t></r></si></sst>"},
            {"xl/worksheets/sheet1.xml", std::move(xml)}};
  return {};
}

// A stored (uncompressed) zip of `parts`, built in memory.
std::string zip_of(const Parts& parts) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* buf = zip_source_buffer_create(nullptr, 0, 0, &err);
  zip_t* z = zip_open_from_source(buf, ZIP_TRUNCATE, &err);
  if (!z) __builtin_trap();
  zip_source_keep(buf);  // read back after zip_close
  for (const auto& [name, data] : parts) {
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    const zip_int64_t i = zip_file_add(z, name.c_str(), s, ZIP_FL_OVERWRITE);
    if (i < 0 || zip_set_file_compression(z, static_cast<zip_uint64_t>(i), ZIP_CM_STORE, 0) < 0) __builtin_trap();
  }
  if (zip_close(z) != 0) __builtin_trap();
  zip_stat_t st;
  std::string out;
  if (zip_source_stat(buf, &st) != 0 || zip_source_open(buf) != 0) __builtin_trap();
  out.resize(st.size);
  if (zip_source_read(buf, out.data(), st.size) != static_cast<zip_int64_t>(st.size)) __builtin_trap();
  zip_source_close(buf);
  zip_source_free(buf);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    edgerag::set_log_level(edgerag::LogLevel::Error);  // readers log notes per file
    return true;
  }();
  (void)quiet;
  std::string_view file(reinterpret_cast<const char*>(data), size);
  std::string packed;
  if (!file.starts_with("PK")) {
    const Parts parts = parts_around(std::string(file));
    if (!parts.empty()) file = packed = zip_of(parts);
  }
  edgerag::rag::ReadOptions opt;
  opt.limits.seconds = 10;  // past it an Error, not a libFuzzer timeout
  try {
    const edgerag::rag::ParsedDocument doc = edgerag::rag::read_document(std::string("fuzz.") + std::string(kExt), file, opt);
    // Text formats promise each block is exactly its slice of the file.
    for (const edgerag::rag::Block& b : doc.blocks) {
      if (b.byte_begin < 0 || b.byte_end < b.byte_begin) __builtin_trap();
      if ((kExt == "txt" || kExt == "md") &&
          (static_cast<size_t>(b.byte_end) > file.size() ||
           b.text != file.substr(b.byte_begin, b.byte_end - b.byte_begin)))
        __builtin_trap();
    }
  } catch (const edgerag::Error&) {
  }
  return 0;
}
