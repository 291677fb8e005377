// Bounds on what one file may cost the readers: documents come from anywhere,
// so depth, size, counts and time are all capped and a file past a bound is
// refused with an error naming the bound (docs/SECURITY.md lists them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/timer.h"

namespace edgerag::rag {

struct ReadLimits {
  uint64_t file_bytes = 64ull << 20;      // size of a file read into memory
  uint64_t text_bytes = 64ull << 20;      // text extracted from one file
  uint64_t unzipped_bytes = 64ull << 20;  // docx/pptx: all parts read, decompressed
  size_t depth = 256;                     // nesting of HTML elements and JSON values
  size_t html_errors = 1000;              // parse errors the HTML parser records
  size_t rows = 1'000'000;                // csv/jsonl data rows
  size_t columns = 4096;                  // csv fields per record
  size_t keys = 4096;                     // keys per JSON object
  double seconds = 120;                   // parse time per file
};

// "name=value" (names as in ReadLimits, e.g. "depth=512"); throws on an
// unknown name or a value out of range.
void set_read_limit(ReadLimits& limits, std::string_view spec);
// name -> current value, in declaration order (docs, --help).
std::vector<std::pair<std::string, std::string>> read_limit_values(const ReadLimits& limits);

// One file's running account against its limits; each check throws Error.
class ReadBudget {
 public:
  explicit ReadBudget(const ReadLimits& limits) : limits_(limits) {}
  const ReadLimits& limits() const { return limits_; }
  void depth(size_t d, const char* what) const;
  void text(uint64_t total_bytes) const;
  void rows(size_t n) const;
  // Cheap enough for inner loops: reads the clock every 1024 calls.
  void tick() {
    if ((++ticks_ & 1023u) == 0) check_time();
  }
  void check_time() const;

 private:
  const ReadLimits& limits_;
  Timer timer_;
  uint32_t ticks_ = 0;
};

}  // namespace edgerag::rag
