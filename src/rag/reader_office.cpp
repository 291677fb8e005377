// DOCX and PPTX: zip archives (libzip) of WordprocessingML / PresentationML
// parts (libxml2). DOCX heading styles form the headings path; each PPTX
// slide is a page whose title shape is its heading.
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>

#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

constexpr zip_uint64_t kMaxPartBytes = 256u << 20;  // refuse zip bombs

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

std::string read_part(zip_t* z, const std::string& name) {
  zip_stat_t st;
  if (zip_stat(z, name.c_str(), 0, &st) != 0) fail("archive has no {}", name);
  if (st.size > kMaxPartBytes) fail("{} is too large ({} bytes)", name, st.size);
  zip_file_t* f = zip_fopen(z, name.c_str(), 0);
  if (!f) fail("cannot open {} in the archive", name);
  std::string data(st.size, '\0');
  zip_int64_t n = zip_fread(f, data.data(), st.size);
  zip_fclose(f);
  if (n < 0 || static_cast<zip_uint64_t>(n) != st.size) fail("cannot read {} in the archive", name);
  return data;
}

struct XmlDocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
std::unique_ptr<xmlDoc, XmlDocFree> parse_xml(const std::string& data, const std::string& name) {
  xmlDoc* d = xmlReadMemory(data.data(), static_cast<int>(data.size()), name.c_str(), nullptr,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!d) fail("{} is not well-formed XML", name);
  return std::unique_ptr<xmlDoc, XmlDocFree>(d);
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
  if (const xmlNode* ol = child(ppr, "outlineLvl")) return std::clamp(std::atoi(attr(ol, "val").c_str()) + 1, 1, 9);
  return 0;
}

template <typename Fn>
void for_each_paragraph(const xmlNode* n, const Fn& fn) {
  for (const xmlNode* c = n; c; c = c->next) {
    if (is(c, "p")) fn(c);
    else if (c->type == XML_ELEMENT_NODE) for_each_paragraph(c->children, fn);
  }
}

}  // namespace

ParsedDocument read_docx(std::string_view bytes) {
  Zip z = open_zip(bytes);
  auto xml = parse_xml(read_part(z.get(), "word/document.xml"), "word/document.xml");
  ParsedDocument doc;
  std::vector<std::string> stack(10);
  int64_t offset = 0;
  for_each_paragraph(xmlDocGetRootElement(xml.get()), [&](const xmlNode* p) {
    std::string text;
    run_text(p, text);
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

ParsedDocument read_pptx(std::string_view bytes) {
  Zip z = open_zip(bytes);
  // Slides in presentation order: ppt/slides/slideN.xml by N.
  std::vector<std::pair<int, std::string>> slides;
  zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
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
  for (size_t s = 0; s < slides.size(); ++s) {
    auto xml = parse_xml(read_part(z.get(), slides[s].second), slides[s].second);
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
          std::string text;
          run_text(p, text);
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
