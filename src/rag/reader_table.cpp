// CSV and JSON Lines: one block per data row, chunked by rows under the
// header (CSV's first record; the keys of the first JSON object).
// Rows, fields per record, keys per object, nesting depth and text length are
// bounded by ReadLimits.
#include <nlohmann/json.hpp>

#include <unordered_set>

#include "format/json_file.h"
#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

void add_row(ParsedDocument& doc, std::string text, int64_t row, size_t b, size_t e) {
  Block blk;
  blk.text = std::move(text);
  blk.row = row;
  blk.byte_begin = static_cast<int64_t>(b);
  blk.byte_end = static_cast<int64_t>(e);
  doc.blocks.push_back(std::move(blk));
}

std::string value_text(const nlohmann::ordered_json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Nesting depth and keys per object of one JSON line, checked before the
// (recursive) JSON parser and dump see it.
void check_json_line(std::string_view s, size_t line_no, const ReadBudget& budget) {
  switch (check_json_shape(s, {.depth = budget.limits().depth, .keys_per_object = budget.limits().keys})) {
    case JsonShapeExcess::kDepth:
      fail("line {}: JSON values nested deeper than {} levels (limit depth)", line_no, budget.limits().depth);
    case JsonShapeExcess::kKeys:
      fail("line {}: a JSON object with more than {} keys (limit keys)", line_no, budget.limits().keys);
    default:
      break;
  }
}

}  // namespace

ParsedDocument read_csv(std::string_view s, const ReadLimits& limits) {
  if (s.find('\0') != std::string_view::npos) fail("binary content, not CSV");
  ReadBudget budget(limits);
  budget.text(s.size());  // rows are slices of the file
  ParsedDocument doc;
  doc.tabular = true;
  size_t pos = 0;
  int64_t row = 0;
  while (pos < s.size()) {
    // One record: newlines inside quoted fields do not end it (RFC 4180).
    size_t b = pos;
    bool quoted = false;
    size_t fields = 1;
    while (pos < s.size() && (quoted || s[pos] != '\n')) {
      if (s[pos] == '"') quoted = !quoted;
      else if (s[pos] == ',' && !quoted) ++fields;
      ++pos;
    }
    if (quoted) fail("CSV record starting at byte {} has an unterminated quoted field", b);
    if (fields > limits.columns)
      fail("CSV record starting at byte {} has more than {} fields (limit columns)", b, limits.columns);
    budget.tick();
    size_t e = pos;
    if (e > b && s[e - 1] == '\r') --e;
    ++pos;
    if (s.substr(b, e - b).find_first_not_of(" \t,") == std::string_view::npos) continue;  // empty record
    if (doc.table_header.empty() && row == 0) {
      doc.table_header = std::string(s.substr(b, e - b));
      row = 1;
      continue;
    }
    budget.rows(static_cast<size_t>(row));
    add_row(doc, std::string(s.substr(b, e - b)), row++, b, e);
  }
  if (doc.table_header.empty()) fail("empty CSV file");
  return doc;
}

ParsedDocument read_jsonl(std::string_view s, const ReadLimits& limits) {
  ReadBudget budget(limits);
  ParsedDocument doc;
  doc.tabular = true;
  std::vector<std::string> keys;
  std::unordered_set<std::string> header_keys;
  uint64_t text_bytes = 0;
  size_t pos = 0, line_no = 0;
  int64_t row = 1;
  while (pos < s.size()) {
    size_t b = pos, e = s.find('\n', pos);
    if (e == std::string_view::npos) e = s.size();
    pos = e + 1;
    ++line_no;
    std::string_view line = s.substr(b, e - b);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    budget.rows(static_cast<size_t>(row));
    budget.check_time();
    check_json_line(line, line_no, budget);
    nlohmann::ordered_json obj = nlohmann::ordered_json::parse(line, nullptr, false);
    if (obj.is_discarded()) fail("line {}: not valid JSON", line_no);
    if (!obj.is_object()) {
      std::string text = value_text(obj);
      budget.text(text_bytes += text.size());
      add_row(doc, std::move(text), row++, b, e);
      continue;
    }
    if (keys.empty()) {
      for (const auto& [k, v] : obj.items()) keys.push_back(k);
      header_keys.insert(keys.begin(), keys.end());
      for (const auto& k : keys) doc.table_header += (doc.table_header.empty() ? "" : ", ") + k;
    }
    // Values in header order, then any other keys as key=value.
    std::string text;
    for (const auto& k : keys) {
      if (!text.empty()) text += ", ";
      if (auto it = obj.find(k); it != obj.end()) text += value_text(*it);
    }
    for (const auto& [k, v] : obj.items())
      if (!header_keys.count(k)) text += ", " + k + "=" + value_text(v);
    budget.text(text_bytes += text.size());
    add_row(doc, std::move(text), row++, b, e);
  }
  if (doc.blocks.empty()) fail("no JSON rows");
  return doc;
}

}  // namespace edgerag::rag
