// libFuzzer target for one document reader, chosen at build time by the file
// extension EDGERAG_FUZZ_READER_EXT ("html", "docx", ...): any byte string is
// read into a document or raises edgerag::Error (a clear per-file error);
// anything else (a crash, a leak, another exception, unbounded memory) is a bug.
#include <cstdint>
#include <string_view>

#include "rag/reader.h"
#include "util/error.h"
#include "util/log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    edgerag::set_log_level(edgerag::LogLevel::Error);  // readers log notes per file
    return true;
  }();
  (void)quiet;
  edgerag::rag::ReadOptions opt;
  opt.limits.seconds = 10;  // past it an Error, not a libFuzzer timeout
  try {
    edgerag::rag::ParsedDocument doc = edgerag::rag::read_document(
        "fuzz." EDGERAG_FUZZ_READER_EXT, std::string_view(reinterpret_cast<const char*>(data), size), opt);
    // Text formats promise each block is exactly its slice of the file.
    constexpr std::string_view ext = EDGERAG_FUZZ_READER_EXT;
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    for (const edgerag::rag::Block& b : doc.blocks) {
      if (b.byte_begin < 0 || b.byte_end < b.byte_begin) __builtin_trap();
      if ((ext == "txt" || ext == "md") &&
          (static_cast<size_t>(b.byte_end) > size ||
           b.text != file.substr(b.byte_begin, b.byte_end - b.byte_begin)))
        __builtin_trap();
    }
  } catch (const edgerag::Error&) {
  }
  return 0;
}
