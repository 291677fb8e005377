#include "rag/citation.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace edgerag::rag {
namespace {

// Longest range "[a-b]" expanded; longer ones are one invalid reference, which
// keeps a hostile answer from costing unbounded work.
constexpr long kMaxRange = 64;

struct Marker {
  size_t end = 0;              // one past ']'
  std::vector<long> numbers;   // as referenced (ranges expanded)
  int bad_ranges = 0;          // ranges that are reversed or too long
};

// Parses "[1]", "[1, 2]", "[1-3]", "[1;2]" at text[pos] == '['; nullopt when it is
// not a citation (e.g. "[note]").
std::optional<Marker> parse_marker(const std::string& s, size_t pos) {
  Marker m;
  size_t i = pos + 1;
  auto skip_spaces = [&] {
    while (i < s.size() && s[i] == ' ') ++i;
  };
  auto number = [&]() -> std::optional<long> {
    size_t start = i;
    long v = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && i - start < 9) v = v * 10 + (s[i++] - '0');
    if (i == start || (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))) return std::nullopt;
    return v;
  };
  for (;;) {
    skip_spaces();
    auto a = number();
    if (!a) return std::nullopt;
    skip_spaces();
    if (i < s.size() && s[i] == '-') {
      ++i;
      skip_spaces();
      auto b = number();
      if (!b) return std::nullopt;
      if (*b < *a || *b - *a >= kMaxRange)
        m.bad_ranges++;
      else
        for (long v = *a; v <= *b; ++v) m.numbers.push_back(v);
      skip_spaces();
    } else {
      m.numbers.push_back(*a);
    }
    if (i >= s.size()) return std::nullopt;
    if (s[i] == ']') {
      m.end = i + 1;
      return m;
    }
    if (s[i] != ',' && s[i] != ';') return std::nullopt;
    ++i;
  }
}

}  // namespace

CitationCheck check_citations(const std::string& answer, int n_chunks) {
  CitationCheck out;
  out.text.reserve(answer.size());
  size_t i = 0;
  while (i < answer.size()) {
    std::optional<Marker> m;
    if (answer[i] == '[') m = parse_marker(answer, i);
    if (!m) {
      out.text += answer[i++];
      continue;
    }
    std::vector<long> valid;
    for (long v : m->numbers) {
      if (v >= 1 && v <= n_chunks)
        valid.push_back(v);
      else
        out.removed++;
    }
    out.removed += m->bad_ranges;
    for (long v : valid)
      if (std::find(out.cited.begin(), out.cited.end(), v) == out.cited.end()) out.cited.push_back(static_cast<int>(v));
    if (valid.size() == m->numbers.size() && m->bad_ranges == 0) {
      out.text.append(answer, i, m->end - i);  // fully valid: kept as written
    } else if (!valid.empty()) {
      out.text += fmt::format("[{}]", fmt::join(valid, ", "));
    } else if (!out.text.empty() && out.text.back() == ' ') {
      out.text.pop_back();  // "claim [9]." -> "claim."
    }
    i = m->end;
  }
  return out;
}

}  // namespace edgerag::rag
