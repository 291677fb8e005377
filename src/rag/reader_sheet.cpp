#include "rag/reader_sheet.h"

#include <libxml/xmlreader.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "util/error.h"

namespace edgerag::rag {
namespace {

// ---- Archive entries streamed into libxml2's pull parser, decompressed bytes counted.

struct Archive {
  zip_t* z = nullptr;
  uint64_t left;  // decompressed bytes still allowed
  const SheetLimits& limits;

  Archive(std::string_view bytes, const SheetLimits& lim) : left(lim.unzipped_bytes), limits(lim) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
    if (src) {
      z = zip_open_from_source(src, ZIP_RDONLY, &err);
      if (!z) zip_source_free(src);
    }
    if (!z) {
      std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      fail("not a spreadsheet archive: {}", why);
    }
  }
  ~Archive() { zip_discard(z); }
  Archive(const Archive&) = delete;
  Archive& operator=(const Archive&) = delete;

  bool has(const std::string& name) const { return zip_name_locate(z, name.c_str(), 0) >= 0; }
};

struct Input {
  zip_file_t* file;
  uint64_t* left;
  bool over = false;
};

int read_input(void* ctx, char* buf, int len) {
  auto* in = static_cast<Input*>(ctx);
  const zip_int64_t n = zip_fread(in->file, buf, static_cast<zip_uint64_t>(len));
  if (n < 0) return -1;
  if (static_cast<uint64_t>(n) > *in->left) {
    in->over = true;
    return -1;
  }
  *in->left -= static_cast<uint64_t>(n);
  return static_cast<int>(n);
}

int close_input(void*) { return 0; }

// One XML part of the archive, read node by node.
class XmlStream {
 public:
  XmlStream(Archive& a, const std::string& name) : name_(name), limit_(a.limits.unzipped_bytes) {
    file_ = zip_fopen(a.z, name.c_str(), 0);
    if (!file_) fail("the archive has no readable {}", name);
    input_ = {file_, &a.left};
    // No entity substitution, no network, no DTD loading; libxml2's default
    // depth limit (256) stays on.
    reader_ = xmlReaderForIO(read_input, close_input, &input_, name.c_str(), nullptr,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!reader_) {
      zip_fclose(file_);
      fail("cannot parse {}", name);
    }
  }
  ~XmlStream() {
    xmlFreeTextReader(reader_);
    zip_fclose(file_);
  }
  XmlStream(const XmlStream&) = delete;
  XmlStream& operator=(const XmlStream&) = delete;

  // Advances to the next node; false at the end of the part.
  bool next() {
    const int rc = xmlTextReaderRead(reader_);
    if (rc == 1) {
      if (type() == XML_READER_TYPE_DOCUMENT_TYPE) fail("{} has a document type declaration", name_);
      return true;
    }
    if (input_.over)
      fail("{}: the spreadsheet's XML decompresses to more than {} bytes (limit unzipped_bytes)", name_, limit_);
    if (rc < 0) fail("{} is not well-formed XML", name_);
    return false;
  }
  int type() const { return xmlTextReaderNodeType(reader_); }
  bool element(const char* local) const { return type() == XML_READER_TYPE_ELEMENT && is(local); }
  bool end(const char* local) const { return type() == XML_READER_TYPE_END_ELEMENT && is(local); }
  bool empty() const { return xmlTextReaderIsEmptyElement(reader_) == 1; }
  int depth() const { return xmlTextReaderDepth(reader_); }
  bool is(const char* local) const {
    const xmlChar* n = xmlTextReaderConstLocalName(reader_);
    return n && std::strcmp(reinterpret_cast<const char*>(n), local) == 0;
  }
  bool text_node() const {
    const int t = type();
    return t == XML_READER_TYPE_TEXT || t == XML_READER_TYPE_CDATA || t == XML_READER_TYPE_SIGNIFICANT_WHITESPACE ||
           t == XML_READER_TYPE_WHITESPACE;
  }
  std::string_view value() const {
    const xmlChar* v = xmlTextReaderConstValue(reader_);
    return v ? std::string_view(reinterpret_cast<const char*>(v)) : std::string_view();
  }
  // Attribute of the current element by local name (any namespace); "" when absent.
  std::string attr(const char* local) {
    std::string out;
    if (xmlTextReaderMoveToFirstAttribute(reader_) != 1) return out;
    do {
      if (is(local)) {
        out = std::string(value());
        break;
      }
    } while (xmlTextReaderMoveToNextAttribute(reader_) == 1);
    xmlTextReaderMoveToElement(reader_);
    return out;
  }
  // Skips the current element's subtree (stays on its last node).
  void skip() {
    if (empty()) return;
    const int d = depth();
    while (next())
      if (type() == XML_READER_TYPE_END_ELEMENT && depth() == d) return;
  }

 private:
  std::string name_;
  uint64_t limit_;
  zip_file_t* file_ = nullptr;
  Input input_{};
  xmlTextReaderPtr reader_ = nullptr;
};

// ---- Rows into a ParsedDocument, counted against the limits.

class SheetBuilder {
 public:
  SheetBuilder(ParsedDocument& doc, const SheetLimits& limits) : doc_(doc), limits_(limits) {
    doc_.tabular = true;
  }

  void begin_sheet(std::string name) {
    if (++sheets_ > limits_.sheets) fail("more than {} sheets (limit sheets)", limits_.sheets);
    sheet_ = std::move(name);
    has_header_ = false;
  }
  void hidden_sheet(const std::string& name) { doc_.notes.push_back("hidden sheet '" + name + "' skipped"); }

  // Column (1-based) of a cell with text; empty text is ignored.
  void cell(size_t column, std::string text) {
    if (text.empty()) return;
    if (column == 0 || column > limits_.columns)
      fail("sheet '{}': a cell in column {} (limit columns {})", sheet_, column, limits_.columns);
    if (++cells_ > limits_.cells) fail("more than {} non-empty cells (limit cells)", limits_.cells);
    cells_in_row_.emplace_back(column, std::move(text));
  }

  // Ends row `number` (1-based): the first non-empty row of a sheet is its header.
  void end_row(int64_t number, size_t repeat = 1) {
    if (cells_in_row_.empty()) return;
    std::sort(cells_in_row_.begin(), cells_in_row_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    // Cells joined by ", ", empty ones included so columns line up with the header.
    std::string text;
    size_t separators = 0;
    for (auto& [c, t] : cells_in_row_) {
      if (c - 1 <= separators && !text.empty()) text += ' ';  // two cells in one column (a malformed file)
      for (; separators < c - 1; ++separators) text += ", ";
      text += t;
    }
    cells_in_row_.clear();
    for (size_t k = 0; k < repeat; ++k) {
      if (!has_header_) {
        doc_.table_headers[sheet_] = text;
        has_header_ = true;
        continue;
      }
      if (++rows_ > limits_.rows) fail("more than {} rows (limit rows)", limits_.rows);
      text_bytes_ += text.size() + 1;
      if (text_bytes_ > limits_.text_bytes) fail("more than {} bytes of text (limit text_bytes)", limits_.text_bytes);
      Block b;
      b.text = text;
      b.headings = sheet_;
      b.row = number + static_cast<int64_t>(k);
      b.byte_begin = static_cast<int64_t>(text_bytes_ - text.size() - 1);
      b.byte_end = b.byte_begin + static_cast<int64_t>(text.size());
      doc_.blocks.push_back(std::move(b));
    }
  }

  void finish() const {
    if (doc_.blocks.empty() && doc_.table_headers.empty()) fail("the spreadsheet has no visible cells");
  }

 private:
  ParsedDocument& doc_;
  const SheetLimits& limits_;
  std::string sheet_;
  bool has_header_ = false;
  size_t sheets_ = 0, rows_ = 0, cells_ = 0;
  uint64_t text_bytes_ = 0;
  std::vector<std::pair<size_t, std::string>> cells_in_row_;
};

// ---- xlsx

// "BC12" -> column 55 (0 when there are no letters).
size_t column_of(std::string_view ref) {
  size_t col = 0;
  for (char c : ref) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c < 'A' || c > 'Z') break;
    col = col * 26 + static_cast<size_t>(c - 'A' + 1);
    if (col > (1u << 24)) break;  // past any limit; keeps the arithmetic small
  }
  return col;
}

// Text of the current element's subtree: <t> contents, phonetic runs (<rPh>) left out.
std::string inline_text(XmlStream& x) {
  std::string out;
  if (x.empty()) return out;
  const int d = x.depth();
  while (x.next()) {
    if (x.type() == XML_READER_TYPE_END_ELEMENT && x.depth() == d) break;
    if (x.element("rPh")) x.skip();
    else if (x.text_node()) out += x.value();
  }
  return out;
}

std::vector<std::string> shared_strings(Archive& a, const SheetLimits& limits) {
  std::vector<std::string> out;
  if (!a.has("xl/sharedStrings.xml")) return out;
  XmlStream x(a, "xl/sharedStrings.xml");
  while (x.next())
    if (x.element("si")) {
      if (out.size() >= limits.cells) fail("more than {} shared strings (limit cells)", limits.cells);
      out.push_back(inline_text(x));
    }
  return out;
}

struct SheetRef {
  std::string name, part;
  bool hidden = false;
};

std::vector<SheetRef> xlsx_sheets(Archive& a) {
  std::map<std::string, std::string> targets;  // relationship id -> part
  {
    XmlStream x(a, "xl/_rels/workbook.xml.rels");
    while (x.next())
      if (x.element("Relationship")) {
        std::string target = x.attr("Target");
        targets[x.attr("Id")] = target.rfind('/', 0) == 0 ? target.substr(1) : "xl/" + target;
      }
  }
  std::vector<SheetRef> sheets;
  XmlStream x(a, "xl/workbook.xml");
  while (x.next())
    if (x.element("sheet")) {
      SheetRef s;
      s.name = x.attr("name");
      const std::string state = x.attr("state");
      s.hidden = state == "hidden" || state == "veryHidden";
      auto it = targets.find(x.attr("id"));  // r:id
      if (it == targets.end()) fail("sheet '{}' has no part in the workbook relationships", s.name);
      s.part = it->second;
      sheets.push_back(std::move(s));
    }
  return sheets;
}

void read_xlsx_sheet(Archive& a, const SheetRef& s, const std::vector<std::string>& strings, SheetBuilder& out) {
  XmlStream x(a, s.part);
  int64_t row = 0;
  size_t col = 0;
  while (x.next()) {
    if (x.element("row")) {
      const std::string r = x.attr("r");
      row = r.empty() ? row + 1 : std::max<int64_t>(1, std::atoll(r.c_str()));
      col = 0;
      if (x.empty()) out.end_row(row);
    } else if (x.end("row")) {
      out.end_row(row);
    } else if (x.element("c")) {
      const std::string ref = x.attr("r"), t = x.attr("t");
      col = ref.empty() ? col + 1 : column_of(ref);
      if (x.empty()) continue;
      std::string v, inline_str;
      const int d = x.depth();
      while (x.next()) {
        if (x.type() == XML_READER_TYPE_END_ELEMENT && x.depth() == d) break;
        if (x.element("v")) v = inline_text(x);
        else if (x.element("is")) inline_str = inline_text(x);
        else if (x.element("f")) x.skip();  // the formula; its cached value is <v>
      }
      std::string text;
      if (t == "s") {
        char* end = nullptr;
        const unsigned long long i = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end || i >= strings.size())
          fail("sheet '{}' cell {}: shared string {} does not exist", s.name, ref, v);
        text = strings[i];
      } else if (t == "inlineStr") {
        text = inline_str;
      } else if (t == "b") {
        text = v == "1" ? "TRUE" : v == "0" ? "FALSE" : v;
      } else {
        text = v;  // numbers, formula strings (str), errors (e)
      }
      out.cell(col, std::move(text));
    }
  }
}

// ---- ods

// Text of a <table:table-cell>: paragraphs joined by spaces, <text:s> spaces,
// tabs and line breaks; annotations (comments) left out.
std::string ods_cell_text(XmlStream& x) {
  std::string out;
  if (x.empty()) return out;
  const int d = x.depth();
  bool first_p = true;
  while (x.next()) {
    if (x.type() == XML_READER_TYPE_END_ELEMENT && x.depth() == d) break;
    if (x.element("annotation")) {
      x.skip();
    } else if (x.element("p") || x.element("h")) {
      if (!first_p) out += ' ';
      first_p = false;
    } else if (x.element("s")) {
      const std::string c = x.attr("c");
      out.append(std::clamp(c.empty() ? 1 : std::atoi(c.c_str()), 1, 64), ' ');
    } else if (x.element("tab")) {
      out += '\t';
    } else if (x.element("line-break")) {
      out += ' ';
    } else if (x.text_node()) {
      out += x.value();
    }
  }
  return out;
}

size_t repeat_attr(XmlStream& x, const char* local) {
  const std::string v = x.attr(local);
  if (v.empty()) return 1;
  const long long n = std::atoll(v.c_str());
  return n < 1 ? 1 : static_cast<size_t>(std::min<long long>(n, 1ll << 30));
}

}  // namespace

ParsedDocument read_xlsx(std::string_view bytes, const SheetLimits& limits) {
  Archive a(bytes, limits);
  ParsedDocument doc;
  SheetBuilder out(doc, limits);
  const std::vector<SheetRef> sheets = xlsx_sheets(a);
  if (sheets.empty()) fail("the workbook lists no sheets");
  const std::vector<std::string> strings = shared_strings(a, limits);
  for (const SheetRef& s : sheets) {
    if (s.hidden) {
      out.hidden_sheet(s.name);
      continue;
    }
    out.begin_sheet(s.name);
    read_xlsx_sheet(a, s, strings, out);
  }
  out.finish();
  return doc;
}

ParsedDocument read_ods(std::string_view bytes, const SheetLimits& limits) {
  Archive a(bytes, limits);
  ParsedDocument doc;
  SheetBuilder out(doc, limits);
  XmlStream x(a, "content.xml");
  std::set<std::string> hidden_styles;  // table styles with table:display="false"
  std::string style;                     // table style being read
  bool in_table = false, skipping = false;
  int64_t row = 0;
  size_t col = 0;
  while (x.next()) {
    if (x.element("style")) {
      style = x.attr("family") == "table" ? x.attr("name") : "";
    } else if (x.element("table-properties")) {
      if (!style.empty() && x.attr("display") == "false") hidden_styles.insert(style);
    } else if (x.element("table") && !in_table) {
      const std::string name = x.attr("name");
      skipping = hidden_styles.count(x.attr("style-name")) > 0;
      if (skipping) out.hidden_sheet(name);
      else out.begin_sheet(name);
      in_table = !x.empty();
      row = 0;
      if (skipping) x.skip(), in_table = false;
    } else if (x.end("table") && in_table) {
      in_table = false;
    } else if (in_table && x.element("table-row")) {
      const size_t repeat = repeat_attr(x, "number-rows-repeated");
      const int64_t first = row + 1;
      row += static_cast<int64_t>(repeat);
      col = 0;
      if (x.empty()) continue;
      const int d = x.depth();
      while (x.next()) {
        if (x.type() == XML_READER_TYPE_END_ELEMENT && x.depth() == d) break;
        if (x.element("table-cell") || x.element("covered-table-cell")) {
          const size_t cols = repeat_attr(x, "number-columns-repeated");
          std::string text = ods_cell_text(x);
          if (text.empty()) {
            col += cols;
            continue;
          }
          if (cols > limits.columns || col + cols > limits.columns)
            fail("sheet row {}: more than {} columns (limit columns)", first, limits.columns);
          for (size_t k = 0; k < cols; ++k) out.cell(++col, text);
        } else if (x.element("table")) {
          x.skip();  // a sub-table inside a cell
        }
      }
      out.end_row(first, repeat);
    }
  }
  out.finish();
  return doc;
}

ParsedDocument read_xls(std::string_view) {
  fail("legacy Excel (.xls) workbooks are not read: save the file as .xlsx or .ods and ingest that");
}

}  // namespace edgerag::rag
