// HTML (gumbo): visible text by block element, h1-h6 form the headings path,
// <title> the document title; scripts, styles and templates are dropped.
#include <gumbo.h>

#include <array>
#include <cstring>

#include "rag/reader.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

bool is_block(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_P: case GUMBO_TAG_DIV: case GUMBO_TAG_LI: case GUMBO_TAG_UL: case GUMBO_TAG_OL:
    case GUMBO_TAG_TR: case GUMBO_TAG_TABLE: case GUMBO_TAG_BR: case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_BLOCKQUOTE: case GUMBO_TAG_PRE: case GUMBO_TAG_HEADER: case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_MAIN: case GUMBO_TAG_ASIDE: case GUMBO_TAG_FIGURE: case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_DL: case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_HR: case GUMBO_TAG_NAV:
    case GUMBO_TAG_BODY: case GUMBO_TAG_CAPTION: case GUMBO_TAG_ADDRESS:
      return true;
    default:
      return false;
  }
}

int heading_level(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    case GUMBO_TAG_H6: return 6;
    default: return 0;
  }
}

bool is_hidden(GumboTag t) {
  return t == GUMBO_TAG_SCRIPT || t == GUMBO_TAG_STYLE || t == GUMBO_TAG_NOSCRIPT || t == GUMBO_TAG_TEMPLATE ||
         t == GUMBO_TAG_HEAD || t == GUMBO_TAG_SVG || t == GUMBO_TAG_IFRAME || t == GUMBO_TAG_OBJECT;
}

// Appends text with runs of whitespace collapsed to one space.
void append_collapsed(std::string& out, const char* text) {
  for (const char* p = text; *p; ++p) {
    bool sp = std::strchr(" \t\n\r\f\v", *p) != nullptr;
    if (sp) {
      if (!out.empty() && out.back() != ' ' && out.back() != '\n') out += ' ';
    } else {
      out += *p;
    }
  }
}

struct Walker {
  explicit Walker(ParsedDocument& d) : doc(d) {}
  ParsedDocument& doc;
  std::array<std::string, 7> stack{};
  std::string cur;
  int64_t offset = 0;

  std::string path() const {
    std::string p;
    for (int l = 1; l <= 6; ++l)
      if (!stack[l].empty()) p += (p.empty() ? "" : " > ") + stack[l];
    return p;
  }
  void flush() {
    append_block(doc, std::move(cur), path(), 0, &offset);
    cur.clear();
  }
  void text_of(const GumboNode* n, std::string& out) {
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA || n->type == GUMBO_NODE_WHITESPACE) {
      append_collapsed(out, n->v.text.text);
    } else if (n->type == GUMBO_NODE_ELEMENT && !is_hidden(n->v.element.tag)) {
      for (unsigned i = 0; i < n->v.element.children.length; ++i)
        text_of(static_cast<const GumboNode*>(n->v.element.children.data[i]), out);
    }
  }
  void walk(const GumboNode* n) {
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA || n->type == GUMBO_NODE_WHITESPACE) {
      append_collapsed(cur, n->v.text.text);
      return;
    }
    if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE) return;
    GumboTag tag = n->v.element.tag;
    if (tag == GUMBO_TAG_TITLE && doc.title.empty()) {
      std::string t;
      text_of(n, t);
      size_t s = t.find_first_not_of(' '), e = t.find_last_not_of(' ');
      doc.title = s == std::string::npos ? "" : t.substr(s, e - s + 1);
      return;
    }
    if (is_hidden(tag)) return;
    if (int level = heading_level(tag)) {
      flush();
      std::string t;
      text_of(n, t);
      size_t s = t.find_first_not_of(' '), e = t.find_last_not_of(' ');
      stack[level] = s == std::string::npos ? "" : t.substr(s, e - s + 1);
      for (int l = level + 1; l <= 6; ++l) stack[l].clear();
      return;
    }
    bool block = is_block(tag);
    if (block) flush();
    for (unsigned i = 0; i < n->v.element.children.length; ++i)
      walk(static_cast<const GumboNode*>(n->v.element.children.data[i]));
    if (tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH) cur += ' ';
    if (block) flush();
  }
};

}  // namespace

ParsedDocument read_html(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) fail("binary content, not HTML");
  ParsedDocument doc;
  GumboOutput* out = gumbo_parse_with_options(&kGumboDefaultOptions, s.data(), s.size());
  if (!out) fail("cannot parse HTML");
  Walker w(doc);
  // <title> lives in <head>, which the walker otherwise skips.
  const GumboNode* root = out->root;
  for (unsigned i = 0; i < root->v.element.children.length; ++i) {
    auto* c = static_cast<const GumboNode*>(root->v.element.children.data[i]);
    if (c->type != GUMBO_NODE_ELEMENT || c->v.element.tag != GUMBO_TAG_HEAD) continue;
    for (unsigned j = 0; j < c->v.element.children.length; ++j) {
      auto* h = static_cast<const GumboNode*>(c->v.element.children.data[j]);
      if (h->type == GUMBO_NODE_ELEMENT && h->v.element.tag == GUMBO_TAG_TITLE) w.walk(h);
    }
  }
  w.walk(root);
  w.flush();
  gumbo_destroy_output(&kGumboDefaultOptions, out);
  return doc;
}

}  // namespace edgerag::rag
