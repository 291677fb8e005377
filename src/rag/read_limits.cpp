#include "rag/read_limits.h"

#include <charconv>

#include <fmt/format.h>

#include "util/error.h"

namespace edgerag::rag {
namespace {

// Recursive walks are bounded by `depth`; beyond this even a bounded walk
// could exhaust a server thread's stack.
constexpr size_t kMaxDepthSetting = 4096;

template <typename T>
T parse_number(std::string_view name, std::string_view v, T lo, T hi) {
  T x{};
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  EDGERAG_CHECK(ec == std::errc() && end == v.data() + v.size(), "limit {}: '{}' is not a number", name, v);
  EDGERAG_CHECK(x >= lo && x <= hi, "limit {}: expected {}..{}, got {}", name, lo, hi, v);
  return x;
}

}  // namespace

void set_read_limit(ReadLimits& l, std::string_view spec) {
  size_t eq = spec.find('=');
  EDGERAG_CHECK(eq != std::string_view::npos, "limit '{}': expected NAME=VALUE", spec);
  std::string_view name = spec.substr(0, eq), v = spec.substr(eq + 1);
  constexpr uint64_t kBytes = 1ull << 40;
  constexpr size_t kCount = size_t{1} << 32;
  if (name == "file_bytes") l.file_bytes = parse_number<uint64_t>(name, v, 1, kBytes);
  else if (name == "text_bytes") l.text_bytes = parse_number<uint64_t>(name, v, 1, kBytes);
  else if (name == "unzipped_bytes") l.unzipped_bytes = parse_number<uint64_t>(name, v, 1, kBytes);
  else if (name == "depth") l.depth = parse_number<size_t>(name, v, 1, kMaxDepthSetting);
  else if (name == "html_errors") l.html_errors = parse_number<size_t>(name, v, 0, 1 << 20);
  else if (name == "rows") l.rows = parse_number<size_t>(name, v, 1, kCount);
  else if (name == "columns") l.columns = parse_number<size_t>(name, v, 1, kCount);
  else if (name == "keys") l.keys = parse_number<size_t>(name, v, 1, kCount);
  else if (name == "seconds") l.seconds = parse_number<double>(name, v, 0.001, 1e6);
  else fail("unknown limit '{}' (file_bytes, text_bytes, unzipped_bytes, depth, html_errors, rows, columns, keys, seconds)", name);
}

std::vector<std::pair<std::string, std::string>> read_limit_values(const ReadLimits& l) {
  return {{"file_bytes", std::to_string(l.file_bytes)},   {"text_bytes", std::to_string(l.text_bytes)},
          {"unzipped_bytes", std::to_string(l.unzipped_bytes)}, {"depth", std::to_string(l.depth)},
          {"html_errors", std::to_string(l.html_errors)}, {"rows", std::to_string(l.rows)},
          {"columns", std::to_string(l.columns)},         {"keys", std::to_string(l.keys)},
          {"seconds", fmt::format("{}", l.seconds)}};
}

void ReadBudget::depth(size_t d, const char* what) const {
  if (d > limits_.depth) fail("{} nested deeper than {} levels (limit depth)", what, limits_.depth);
}

void ReadBudget::text(uint64_t total) const {
  if (total > limits_.text_bytes) fail("more than {} bytes of text (limit text_bytes)", limits_.text_bytes);
}

void ReadBudget::rows(size_t n) const {
  if (n > limits_.rows) fail("more than {} rows (limit rows)", limits_.rows);
}

void ReadBudget::check_time() const {
  if (timer_.seconds() > limits_.seconds) fail("parsing took more than {} s (limit seconds)", limits_.seconds);
}

}  // namespace edgerag::rag
