// DOCX and PPTX: zip archives (libzip) of WordprocessingML / PresentationML
// parts (libxml2). DOCX heading styles form the headings path; each PPTX
// slide is a page whose title shape is its heading.
// Zip bombs: the parts read may decompress to `unzipped_bytes` in all, checked
// against the central directory first and counted while inflating (the
// directory can lie). XML: libxml2 without XML_PARSE_HUGE refuses nesting past
// 256 levels, which bounds the recursive walks below; DTDs are refused (OOXML
// has none, and entity expansion is the classic XML bomb).
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using Zip = std::unique_ptr<zip_t, ZipCloser>;

Zip open_zip(std::string_view bytes) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) fail("cannot read archive: {}", zip_error_strerror(&err));
  zip_t* z = zip_open_from_source(src, ZIP_RDONLY, &err);
  if (!z) {
    zip_source_free(src);
    std::string msg = zip_error_strerror(&err);
    zip_error_fini(&err);
    fail("not a valid zip archive: {}", msg);
  }
  return Zip(z);
}

struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// Reads parts of one archive while `budget->unzipped` bytes remain.
class PartReader {
 public:
  PartReader(zip_t* z, ReadBudget& budget) : z_(z), budget_(budget), left_(budget.limits().unzipped_bytes) {}

  std::string read(const std::string& name) {
    zip_stat_t st;
    if (zip_stat(z_, name.c_str(), 0, &st) != 0) fail("archive has no {}", name);
    if ((st.valid & ZIP_STAT_SIZE) && st.size > left_) too_large(name);
    std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen(z_, name.c_str(), 0));
    if (!f) fail("cannot open {} in the archive", name);
    std::string data;
    char buf[1 << 16];
    for (;;) {
      zip_int64_t n = zip_fread(f.get(), buf, sizeof buf);
      if (n < 0) fail("cannot read {} in the archive: {}", name, zip_strerror(z_));
      if (n == 0) break;
      if (static_cast<zip_uint64_t>(n) > left_) too_large(name);
      left_ -= static_cast<zip_uint64_t>(n);
      data.append(buf, static_cast<size_t>(n));
      budget_.check_time();
    }
    return data;
  }

 private:
  [[noreturn]] void too_large(const std::string& name) const {
    fail("{}: the archive's parts decompress to more than {} bytes (limit unzipped_bytes)", name,
         budget_.limits().unzipped_bytes);
  }
  zip_t* z_;
  ReadBudget& budget_;
  zip_uint64_t left_;
};

struct XmlDocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct XmlCtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};
std::unique_ptr<xmlDoc, XmlDocFree> parse_xml(const std::string& data, const std::string& name) {
  if (data.size() > static_cast<size_t>(INT32_MAX)) fail("{} is too large for the XML parser", name);
  std::unique_ptr<xmlParserCtxt, XmlCtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) fail("out of memory for the XML parser");
  // No XML_PARSE_HUGE (depth and text-node limits stay on), no XML_PARSE_NOENT (entities not substituted).
  std::unique_ptr<xmlDoc, XmlDocFree> d(xmlCtxtReadMemory(ctxt.get(), data.data(), static_cast<int>(data.size()),
                                                          name.c_str(), nullptr,
                                                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!d) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e && e->message ? e->message : "";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    fail("{} is not well-formed XML{}{}", name, why.empty() ? "" : ": ", why);
  }
  if (d->intSubset || d->extSubset) fail("{} has a document type declaration (not allowed in OOXML parts)", name);
  return d;
}

bool is(const xmlNode* n, const char* local) {
  return n->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(n->name), local) == 0;
}

std::string attr(const xmlNode* n, const char* local) {
  for (const xmlAttr* a = n->properties; a; a = a->next)
    if (std::strcmp(reinterpret_cast<const char*>(a->name), local) == 0 && a->children && a->children->content)
      return reinterpret_cast<const char*>(a->children->content);
  return "";
}

const xmlNode* child(const xmlNode* n, const char* local) {
  for (const xmlNode* c = n->children; c; c = c->next)
    if (is(c, local)) return c;
  return nullptr;
}

// Text of a paragraph: <t> runs, tabs and breaks.
void run_text(const xmlNode* n, std::string& out) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (is(c, "t")) {
      if (xmlChar* s = xmlNodeGetContent(c)) {
        out += reinterpret_cast<const char*>(s);
        xmlFree(s);
      }
    } else if (is(c, "tab")) {
      out += '\t';
    } else if (is(c, "br") || is(c, "cr")) {
      out += ' ';
    } else if (c->type == XML_ELEMENT_NODE && !is(c, "p")) {
      run_text(c, out);
    }
  }
}

// Heading level of a DOCX paragraph: "Heading2" style or an outline level; 0 for body text, -1 for Title.
int docx_heading_level(const xmlNode* p) {
  const xmlNode* ppr = child(p, "pPr");
  if (!ppr) return 0;
  if (const xmlNode* style = child(ppr, "pStyle")) {
    std::string v = attr(style, "val");
    std::string lower = v;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "title") return -1;
    if (lower.rfind("heading", 0) == 0 && lower.size() > 7 && std::isdigit(static_cast<unsigned char>(lower[7])))
      return std::clamp(lower[7] - '0', 1, 9);
  }
  if (const xmlNode* ol = child(ppr, "outlineLvl"))  // strtol: atoi of a huge value is undefined
    return static_cast<int>(std::clamp(std::strtol(attr(ol, "val").c_str(), nullptr, 10), 0L, 8L)) + 1;
  return 0;
}

template <typename Fn>
void for_each_paragraph(const xmlNode* n, const Fn& fn) {
  for (const xmlNode* c = n; c; c = c->next) {
    if (is(c, "p")) fn(c);
    else if (c->type == XML_ELEMENT_NODE) for_each_paragraph(c->children, fn);
  }
}

// Text of a paragraph, counted against the file's text budget.
std::string paragraph_text(const xmlNode* p, ReadBudget& budget, uint64_t* total) {
  std::string text;
  run_text(p, text);
  budget.text(*total += text.size());
  budget.tick();
  return text;
}

}  // namespace

ParsedDocument read_docx(std::string_view bytes, const ReadLimits& limits) {
  ReadBudget budget(limits);
  Zip z = open_zip(bytes);
  auto xml = parse_xml(PartReader(z.get(), budget).read("word/document.xml"), "word/document.xml");
  ParsedDocument doc;
  std::vector<std::string> stack(10);
  int64_t offset = 0;
  uint64_t total = 0;
  for_each_paragraph(xmlDocGetRootElement(xml.get()), [&](const xmlNode* p) {
    std::string text = paragraph_text(p, budget, &total);
    int level = docx_heading_level(p);
    if (level == -1) {
      doc.title = text;
    } else if (level > 0) {
      stack[static_cast<size_t>(level)] = text;
      for (size_t l = static_cast<size_t>(level) + 1; l < stack.size(); ++l) stack[l].clear();
    } else {
      std::string path;
      for (size_t l = 1; l < stack.size(); ++l)
        if (!stack[l].empty()) path += (path.empty() ? "" : " > ") + stack[l];
      append_block(doc, std::move(text), path, 0, &offset);
    }
  });
  return doc;
}

ParsedDocument read_pptx(std::string_view bytes, const ReadLimits& limits) {
  ReadBudget budget(limits);
  Zip z = open_zip(bytes);
  PartReader parts(z.get(), budget);
  // Slides in presentation order: ppt/slides/slideN.xml by N.
  std::vector<std::pair<int, std::string>> slides;
  zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    budget.tick();
    const char* name = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0);
    int num = 0;
    char tail[8] = {0};
    if (name && std::sscanf(name, "ppt/slides/slide%d.%4s", &num, tail) == 2 && std::strcmp(tail, "xml") == 0)
      slides.emplace_back(num, name);
  }
  if (slides.empty()) fail("no slides in the presentation");
  std::sort(slides.begin(), slides.end());
  ParsedDocument doc;
  int64_t offset = 0;
  uint64_t total = 0;
  for (size_t s = 0; s < slides.size(); ++s) {
    auto xml = parse_xml(parts.read(slides[s].second), slides[s].second);
    std::string title;
    std::vector<std::string> body;
    // Shapes (<p:sp>) whose placeholder is a title give the slide's heading.
    std::function<void(const xmlNode*)> walk = [&](const xmlNode* node) {
      for (const xmlNode* c = node; c; c = c->next) {
        if (!is(c, "sp")) {
          if (c->type == XML_ELEMENT_NODE) walk(c->children);
          continue;
        }
        bool is_title = false;
        if (const xmlNode* nv = child(c, "nvSpPr"))
          if (const xmlNode* nvpr = child(nv, "nvPr"))
            if (const xmlNode* ph = child(nvpr, "ph")) is_title = attr(ph, "type") == "title" || attr(ph, "type") == "ctrTitle";
        for_each_paragraph(c->children, [&](const xmlNode* p) {
          std::string text = paragraph_text(p, budget, &total);
          if (text.find_first_not_of(" \t") == std::string::npos) return;
          if (is_title) title += (title.empty() ? "" : " ") + text;
          else body.push_back(text);
        });
      }
    };
    walk(xmlDocGetRootElement(xml.get()));
    if (s == 0 && !title.empty()) doc.title = title;
    for (auto& text : body) append_block(doc, std::move(text), title, static_cast<int>(s + 1), &offset);
  }
  return doc;
}

}  // namespace edgerag::rag
