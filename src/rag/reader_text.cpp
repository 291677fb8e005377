// Plain text and Markdown: blocks are paragraphs (blank-line separated) whose
// text is the exact file slice; Markdown headings (ATX and setext) form the
// headings path and fenced code stays one block.
#include <array>

#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

struct Line {
  size_t begin, end;  // without the newline
};

std::vector<Line> split_lines(std::string_view s) {
  std::vector<Line> lines;
  size_t b = 0;
  while (b < s.size()) {
    size_t e = s.find('\n', b);
    if (e == std::string_view::npos) e = s.size();
    lines.push_back({b, e > b && s[e - 1] == '\r' ? e - 1 : e});
    b = e + 1;
  }
  return lines;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\f\v") == std::string_view::npos; }

// Blocks are slices of the file, so the text is at most the file.
void check_text(std::string_view s, const ReadLimits& limits) {
  if (s.find('\0') != std::string_view::npos) fail("binary content, not text");
  ReadBudget(limits).text(s.size());
}

// The file slice [b, e) as a block, whitespace trimmed.
void add_slice(ParsedDocument& doc, std::string_view s, size_t b, size_t e, const std::string& headings) {
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  if (b == e) return;
  Block blk;
  blk.text = std::string(s.substr(b, e - b));
  blk.headings = headings;
  blk.byte_begin = static_cast<int64_t>(b);
  blk.byte_end = static_cast<int64_t>(e);
  doc.blocks.push_back(std::move(blk));
}

// "## Title ##" -> level 2, "Title"; 0 when not an ATX heading.
int atx_heading(std::string_view line, std::string* title) {
  size_t i = 0;
  while (i < line.size() && i < 3 && line[i] == ' ') ++i;
  size_t h = i;
  while (i < line.size() && line[i] == '#') ++i;
  int level = static_cast<int>(i - h);
  if (level < 1 || level > 6 || (i < line.size() && line[i] != ' ' && line[i] != '\t')) return 0;
  std::string_view t = line.substr(i);
  size_t e = t.find_last_not_of(" \t");
  t = e == std::string_view::npos ? std::string_view() : t.substr(0, e + 1);
  size_t close = t.find_last_not_of('#');  // optional closing hashes
  if (close == std::string_view::npos) t = {};
  else if (close + 1 < t.size() && (t[close] == ' ' || t[close] == '\t')) t = t.substr(0, close);
  size_t s = t.find_first_not_of(" \t");
  *title = s == std::string_view::npos ? "" : std::string(t.substr(s, t.find_last_not_of(" \t") - s + 1));
  return level;
}

bool setext_underline(std::string_view line, char* c) {
  size_t s = line.find_first_not_of(' ');
  if (s == std::string_view::npos || s > 3 || (line[s] != '=' && line[s] != '-')) return false;
  size_t e = line.find_last_not_of(" \t");
  for (size_t i = s; i <= e; ++i)
    if (line[i] != line[s]) return false;
  *c = line[s];
  return true;
}

bool fence(std::string_view line) {
  size_t s = line.find_first_not_of(' ');
  return s != std::string_view::npos && s <= 3 && (line.substr(s, 3) == "```" || line.substr(s, 3) == "~~~");
}

}  // namespace

ParsedDocument read_plain_text(std::string_view s, const ReadLimits& limits) {
  check_text(s, limits);
  ParsedDocument doc;
  auto lines = split_lines(s);
  size_t para = std::string_view::npos;
  for (size_t i = 0; i <= lines.size(); ++i) {
    bool end = i == lines.size() || blank(s.substr(lines[i].begin, lines[i].end - lines[i].begin));
    if (end && para != std::string_view::npos) {
      add_slice(doc, s, para, lines[i - 1].end, "");
      para = std::string_view::npos;
    } else if (!end && para == std::string_view::npos) {
      para = lines[i].begin;
    }
  }
  return doc;
}

ParsedDocument read_markdown(std::string_view s, const ReadLimits& limits) {
  check_text(s, limits);
  ParsedDocument doc;
  std::array<std::string, 7> stack;  // heading text per level 1..6
  auto path = [&] {
    std::string p;
    for (int l = 1; l <= 6; ++l)
      if (!stack[l].empty()) p += (p.empty() ? "" : " > ") + stack[l];
    return p;
  };
  auto set_heading = [&](int level, std::string title) {
    if (level == 1 && doc.title.empty()) doc.title = title;
    stack[level] = std::move(title);
    for (int l = level + 1; l <= 6; ++l) stack[l].clear();
  };
  auto lines = split_lines(s);
  size_t para = std::string_view::npos, para_lines = 0;
  bool in_fence = false;
  auto close_para = [&](size_t end) {
    if (para != std::string_view::npos) add_slice(doc, s, para, end, path());
    para = std::string_view::npos;
    para_lines = 0;
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = s.substr(lines[i].begin, lines[i].end - lines[i].begin);
    if (in_fence) {
      if (fence(line)) {
        in_fence = false;
        close_para(lines[i].end);
      }
      continue;
    }
    std::string title;
    char under = 0;
    if (fence(line)) {
      close_para(i ? lines[i - 1].end : 0);
      para = lines[i].begin;
      in_fence = true;
    } else if (int level = atx_heading(line, &title)) {
      close_para(i ? lines[i - 1].end : 0);
      set_heading(level, title);
    } else if (para_lines == 1 && setext_underline(line, &under)) {
      std::string_view text = s.substr(para, lines[i - 1].end - para);
      size_t a = text.find_first_not_of(" \t"), b = text.find_last_not_of(" \t");
      para = std::string_view::npos;
      para_lines = 0;
      set_heading(under == '=' ? 1 : 2, std::string(text.substr(a, b - a + 1)));
    } else if (blank(line)) {
      close_para(i ? lines[i - 1].end : 0);
    } else {
      if (para == std::string_view::npos) para = lines[i].begin;
      ++para_lines;
    }
  }
  close_para(s.size());
  return doc;
}

}  // namespace edgerag::rag
