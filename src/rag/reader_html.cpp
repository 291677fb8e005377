// HTML (gumbo): visible text by block element, h1-h6 form the headings path,
// <title> the document title; scripts, styles and templates are dropped.
// Hostile pages: gumbo's tree construction is quadratic in nesting depth
// (100,000 nested <div> take minutes and gigabytes), so the depth is first
// estimated from the tags; gumbo records at most `html_errors` parse errors
// (its error list is otherwise unbounded); the depth of the tree it builds is
// measured again without recursion before the (recursive) walk; and the tree
// lives in an arena because gumbo's own destructor recurses once per level.
#include <gumbo.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cctype>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <memory>
#include <utility>
#include <vector>

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

bool in(std::string_view name, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (n == name) return true;
  return false;
}
bool is_void_element(std::string_view n) {
  return in(n, {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
                "wbr", "basefont", "bgsound", "frame", "keygen", "image"});
}
bool is_raw_text(std::string_view n) {
  return in(n, {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"});
}
// Elements a start tag of the same name closes (they do not nest in themselves).
bool closes_twin(std::string_view n) {
  return in(n, {"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot", "rp", "rt",
                "a", "nobr", "form", "button"});
}

// Nesting depth estimated from the tags, in one pass with a stack of at most
// `depth` open elements: an end tag closes up to its match, void elements and
// raw-text contents are skipped, an element that cannot nest in itself closes
// its open twin, and "/>" closes only inside <svg>/<math> (as in HTML).
void check_tag_nesting(std::string_view s, ReadBudget& budget) {
  const size_t n = s.size();
  std::vector<std::string> open;
  size_t foreign = 0;  // open svg/math elements
  auto pop_to = [&](size_t k) {
    for (size_t m = k; m < open.size(); ++m) foreign -= open[m] == "svg" || open[m] == "math";
    open.resize(k);
  };
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  size_t i = 0;
  while (i < n) {
    size_t lt = s.find('<', i);
    if (lt == std::string_view::npos) break;
    i = lt + 1;
    budget.tick();
    if (s.compare(i, 3, "!--") == 0) {
      size_t e = s.find("-->", i + 3);
      i = e == std::string_view::npos ? n : e + 3;
      continue;
    }
    if (i < n && (s[i] == '!' || s[i] == '?')) {  // doctype, CDATA, processing instruction
      size_t e = s.find('>', i);
      i = e == std::string_view::npos ? n : e + 1;
      continue;
    }
    bool end_tag = i < n && s[i] == '/';
    if (end_tag) ++i;
    if (i >= n || !is_alpha(s[i])) continue;
    std::string name;
    for (; i < n && s[i] != '>' && s[i] != '/' && !std::strchr(" \t\n\r\f", s[i]); ++i)
      if (name.size() < 32) name += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
    // Attributes up to '>': a quote starts a value only right after '='.
    bool after_eq = false, self_closing = false;
    while (i < n && s[i] != '>') {
      char c = s[i];
      if ((c == '"' || c == '\'') && after_eq) {
        size_t e = s.find(c, i + 1);
        i = e == std::string_view::npos ? n : e + 1;
        after_eq = self_closing = false;
        continue;
      }
      if (c == '=') after_eq = true;
      else if (!std::strchr(" \t\n\r\f", c)) after_eq = false;
      self_closing = c == '/';
      ++i;
    }
    ++i;
    if (end_tag) {
      for (size_t k = open.size(); k-- > 0;)
        if (open[k] == name) {
          pop_to(k);
          break;
        }
      continue;
    }
    if (is_void_element(name) || (self_closing && foreign > 0)) continue;
    if (name == "plaintext") return;  // the rest is text
    if (is_raw_text(name)) {          // contents are text up to the end tag
      std::string close = "</" + name;
      size_t j = i;
      for (; j < n; ++j) {
        j = s.find("</", j);
        if (j == std::string_view::npos) return;
        std::string cand(s.substr(j, close.size()));
        for (char& c : cand) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (cand == close) break;
      }
      i = j;
      continue;
    }
    if (closes_twin(name))
      for (size_t k = open.size(); k-- > 0;)
        if (open[k] == name) {
          pop_to(k);
          break;
        }
    open.push_back(name);
    foreign += name == "svg" || name == "math";
    budget.depth(open.size() + 2, "HTML elements");  // inside <html><body>
  }
}

// Bump allocator for gumbo: frees are no-ops, everything goes with the arena.
class Arena {
 public:
  static void* allocate(void* self, size_t n) { return static_cast<Arena*>(self)->take(n); }
  static void deallocate(void*, void*) {}

 private:
  static constexpr size_t kBlock = size_t{1} << 20;
  void* take(size_t n) {
    n = (std::max<size_t>(n, 1) + 15) & ~size_t{15};  // operator new[] gives 16-byte alignment; keep it
    if (n > kBlock / 4) return blocks_.emplace_back(new std::byte[n]).get();  // a block of its own
    if (n > left_) {
      cur_ = blocks_.emplace_back(new std::byte[kBlock]).get();
      left_ = kBlock;
    }
    void* p = cur_;
    cur_ += n;
    left_ -= n;
    return p;
  }
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  std::byte* cur_ = nullptr;  // free space of the current block
  size_t left_ = 0;
};

const GumboVector* children_of(const GumboNode* n) {
  if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) return &n->v.element.children;
  if (n->type == GUMBO_NODE_DOCUMENT) return &n->v.document.children;
  return nullptr;
}

// Depth of the tree, with an explicit stack.
void check_depth(const GumboNode* root, ReadBudget& budget) {
  std::vector<std::pair<const GumboNode*, size_t>> todo{{root, 1}};
  while (!todo.empty()) {
    auto [n, d] = todo.back();
    todo.pop_back();
    budget.depth(d, "HTML elements");
    budget.tick();
    if (const GumboVector* c = children_of(n))
      for (unsigned i = 0; i < c->length; ++i) todo.emplace_back(static_cast<const GumboNode*>(c->data[i]), d + 1);
  }
}

struct Walker {
  Walker(ParsedDocument& d, ReadBudget& b) : doc(d), budget(b) {}
  ParsedDocument& doc;
  ReadBudget& budget;
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
    budget.text(static_cast<uint64_t>(offset));
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
    budget.tick();
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

ParsedDocument read_html(std::string_view s, const ReadLimits& limits) {
  if (s.find('\0') != std::string_view::npos) fail("binary content, not HTML");
  ReadBudget budget(limits);
  check_tag_nesting(s, budget);
  Arena arena;
  GumboOptions options = kGumboDefaultOptions;
  options.allocator = &Arena::allocate;
  options.deallocator = &Arena::deallocate;
  options.userdata = &arena;
  options.max_errors = static_cast<int>(limits.html_errors);
  GumboOutput* out = gumbo_parse_with_options(&options, s.data(), s.size());
  if (!out) fail("cannot parse HTML");
  budget.check_time();
  check_depth(out->document, budget);
  ParsedDocument doc;
  Walker w(doc, budget);
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
  return doc;  // the arena releases the tree
}

}  // namespace edgerag::rag
