#include "tokenizer/pretokenizer.h"

#include <unicode/uregex.h>
#include <unicode/utext.h>

#include "util/error.h"

namespace edgerag {
namespace {

// Regexes as llama.cpp writes them (src/llama-vocab.cpp, llm_tokenizer_bpe).
const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const char* const kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

struct UTextCloser {
  void operator()(UText* t) const { utext_close(t); }
};
struct RegexCloser {
  void operator()(URegularExpression* r) const { uregex_close(r); }
};
using RegexPtr = std::unique_ptr<URegularExpression, RegexCloser>;

}  // namespace

struct RegexSet {
  std::vector<RegexPtr> compiled;  // prototypes; matching uses per-call clones
};

PreTokenizer::PreTokenizer(const std::vector<std::string>& patterns) : regexes_(std::make_unique<RegexSet>()) {
  for (const auto& p : patterns) {
    UErrorCode err = U_ZERO_ERROR;
    UParseError perr{};
    RegexPtr re(uregex_openC(p.c_str(), 0, &perr, &err));
    EDGERAG_CHECK(U_SUCCESS(err), "pre-tokenizer regex '{}' does not compile: {}", p, u_errorName(err));
    regexes_->compiled.push_back(std::move(re));
  }
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view utf8) const {
  std::vector<std::string_view> pieces;
  if (utf8.empty()) return pieces;
  pieces.push_back(utf8);
  UErrorCode err = U_ZERO_ERROR;
  std::unique_ptr<UText, UTextCloser> text(
      utext_openUTF8(nullptr, utf8.data(), static_cast<int64_t>(utf8.size()), &err));
  EDGERAG_CHECK(U_SUCCESS(err), "pre-tokenizer: cannot open text ({})", u_errorName(err));
  for (const auto& proto : regexes_->compiled) {
    RegexPtr re(uregex_clone(proto.get(), &err));
    uregex_setUText(re.get(), text.get(), &err);
    EDGERAG_CHECK(U_SUCCESS(err), "pre-tokenizer: regex setup failed ({})", u_errorName(err));
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      // Each piece is matched on its own: the region's opaque bounds hide the
      // neighbours from look-ahead, as llama.cpp's per-piece matching does.
      const int64_t begin = piece.data() - utf8.data();
      const int64_t end = begin + static_cast<int64_t>(piece.size());
      uregex_setRegion64(re.get(), begin, end, &err);
      int64_t last = begin;
      while (uregex_findNext(re.get(), &err) && U_SUCCESS(err)) {
        const int64_t s = uregex_start64(re.get(), 0, &err);
        const int64_t e = uregex_end64(re.get(), 0, &err);
        if (e == s) continue;
        if (s > last) next.push_back(utf8.substr(last, s - last));
        next.push_back(utf8.substr(s, e - s));
        last = e;
      }
      EDGERAG_CHECK(U_SUCCESS(err), "pre-tokenizer: regex match failed ({})", u_errorName(err));
      if (last < end) next.push_back(utf8.substr(last, end - last));
    }
    pieces = std::move(next);
  }
  return pieces;
}

PreTokenizerSpec pre_tokenizer_spec(const std::string& pre) {
  const auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (pre == n) return true;
    return false;
  };
  PreTokenizerSpec s;
  if (pre.empty() || pre == "default") {
    s.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  } else if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
                 "modern-bert", "exaone4", "mpt", "olmo", "jais"})) {
    s.patterns = {kGpt2};
  } else if (is({"trillion", "granite-docling"})) {
    s.patterns = {kGpt2};
    s.clean_spaces = false;
  } else if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"})) {
    s.patterns = {kLlama3};
    s.ignore_merges = true;
    s.add_bos = true;
  } else if (is({"dbrx", "smaug-bpe"})) {
    s.patterns = {kLlama3};
  } else if (is({"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"})) {
    s.patterns = {kQwen2};
    s.clean_spaces = pre == "stablelm2" || pre == "megrez";
  } else if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"})) {
    s.patterns = {"\\p{N}", kGpt2};
    s.clean_spaces = !(pre == "command-r" || pre == "smollm");
  } else if (pre == "falcon") {
    s.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  } else {
    fail("unknown pre-tokenizer type '{}'", pre);
  }
  return s;
}

}  // namespace edgerag
