// Hostile documents (generated here, never committed): each is refused with an
// error naming the limit it broke, or parsed in bounded memory; the good files
// of the same ingest run are still indexed. Peak memory is the peak RSS of a
// forked child running the reader (getrusage), against the limit stated in each test.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "fixtures.h"
#include "sanitizer_scale.h"
#include "rag/index.h"
#include "rag/reader.h"
#include "rag/search_json.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

using test::error_of;
using test::write_file;

std::string repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}


struct ChildRun {
  bool ok = false;  // the child finished and `fn` returned true
  long peak_rss_growth_mib = -1;
};

// Runs `fn` in a forked child (a crash there cannot take the test down) and
// reports how much the child's peak RSS grew, in MiB: it inherits this
// process's pages, so only the growth is the cost of `fn`.
ChildRun run_in_child(const std::function<bool()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    rusage before{}, after{};
    getrusage(RUSAGE_SELF, &before);
    long result[2] = {0, 0};
    try {
      result[0] = fn();
    } catch (const std::exception&) {
    }
    getrusage(RUSAGE_SELF, &after);
    result[1] = (after.ru_maxrss - before.ru_maxrss) / 1024;
    ssize_t w = write(fds[1], result, sizeof result);
    _exit(w == sizeof result ? 0 : 1);
  }
  close(fds[1]);
  long result[2] = {0, -1};
  ChildRun run;
  if (read(fds[0], result, sizeof result) == sizeof result) run = {result[0] != 0, result[1]};
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
  return run;
}

// Issue item 1: 100,000 nested <div> (1.1 MB) overflowed the stack of the recursive walk.
TEST(Hostile, DeeplyNestedHtmlIsRefusedByDepth) {
  std::string deep = repeat("<div>", 100000) + "x" + repeat("</div>", 100000);
  EXPECT_NE(error_of([&] { read_html(deep); }).find("nested deeper than 256 levels (limit depth)"), std::string::npos);
  // Below the limit the same shape parses (html, body and 200 divs).
  auto ok = read_html(repeat("<div>", 200) + "deep text" + repeat("</div>", 200));
  ASSERT_EQ(ok.blocks.size(), 1u);
  EXPECT_EQ(ok.blocks[0].text, "deep text");
}

// Issue item 3: 100,000 unclosed <span> drove gumbo's error list past 5 GB.
// They nest 100,000 deep, so they are refused by depth before gumbo runs; a
// page of many parse errors at low depth parses with a bounded error list.
TEST(Hostile, UnclosedSpansAndParseErrorsStayBounded) {
  std::string spans = "<html><body><p>" + repeat("<span>word ", 100000) + "</p></body></html>";
  auto run = run_in_child([&] { return error_of([&] { read_html(spans); }).find("(limit depth)") != std::string::npos; });
  EXPECT_TRUE(run.ok);
  EXPECT_LT(run.peak_rss_growth_mib, 256 * test::kSanitizerMemory) << "MiB (limit 256 MiB; it was > 5 GB)";
  // 200,000 stray end tags and bad tokens: 200,000+ parse errors, depth 3.
  std::string errors = "<p>" + repeat("</span></b>x&#0; ", 100000) + "</p>";
  run = run_in_child([&] {
    auto d = read_html(errors);
    return d.blocks.size() == 1 && d.blocks[0].text.size() > 100000;
  });
  EXPECT_TRUE(run.ok);
  EXPECT_LT(run.peak_rss_growth_mib, 512 * test::kSanitizerMemory) << "MiB (limit 512 MiB)";
}

// Tricks that would hide nesting from a naive tag count: quotes outside
// attribute values, self-closing syntax on HTML elements, raw-text elements.
TEST(Hostile, TagNestingEstimateIsNotFooled) {
  auto deep_error = [](const std::string& html) { return error_of([&] { read_html(html); }); };
  EXPECT_NE(deep_error("<div x=a\"b>" + repeat("<div>", 300) + "\"").find("limit depth"), std::string::npos);
  EXPECT_NE(deep_error(repeat("<div/>", 300)).find("limit depth"), std::string::npos);
  EXPECT_NE(deep_error("<script>x</script>" + repeat("<em>", 300)).find("limit depth"), std::string::npos);
  // ...and ordinary markup is not refused: 1000 list items, void elements,
  // svg shapes, unclosed paragraphs, script text holding tags.
  std::string page = "<ul>" + repeat("<li>item <br><img src=x>", 1000) + "</ul><svg>" + repeat("<path d='M0'/>", 1000) +
                     "</svg>" + repeat("<p>para", 1000) + "<script>" + repeat("<div>", 1000) + "</script>";
  EXPECT_NO_THROW(read_html(page));
}

// Issue item 2: a JSONL line of 10^6 nested '[' overflowed the JSON library's recursion.
TEST(Hostile, DeeplyNestedJsonIsRefusedBeforeParsing) {
  std::string deep = "{\"ok\": 1}\n" + repeat("[", 1000000) + repeat("]", 1000000) + "\n";
  EXPECT_NE(error_of([&] { read_jsonl(deep); }).find("line 2: JSON values nested deeper than 256 levels"),
            std::string::npos);
  // Brackets inside strings are text, not nesting.
  auto d = read_jsonl("{\"a\": \"" + repeat("[", 1000) + "\"}\n");
  ASSERT_EQ(d.blocks.size(), 1u);
  EXPECT_EQ(d.blocks[0].text, repeat("[", 1000));
}

// Issue item 8: a JSONL whose first row has 300k keys passed 5 GB.
TEST(Hostile, JsonObjectsWithTooManyKeysAreRefused) {
  std::string row = "{";
  for (int i = 0; i < 300000; ++i) row += fmt::format("{}\"k{}\": {}", i ? ", " : "", i, i);
  row += "}\n";
  auto run = run_in_child([&] {
    return error_of([&] { read_jsonl(row + row); }).find("line 1: a JSON object with more than 4096 keys (limit keys)") !=
           std::string::npos;
  });
  EXPECT_TRUE(run.ok);
  EXPECT_LT(run.peak_rss_growth_mib, 256 * test::kSanitizerMemory) << "MiB (limit 256 MiB; unbounded it was > 5 GB)";
  ReadLimits few;
  few.keys = 2;
  EXPECT_NO_THROW(read_jsonl("{\"a\": {\"x\": 1, \"y\": 2}, \"b\": 2}\n", few));  // per object, not per line
  EXPECT_THROW(read_jsonl("{\"a\": 1, \"b\": 2, \"c\": 3}\n", few), Error);
}

TEST(Hostile, TableRowsColumnsTextAndTimeAreBounded) {
  ReadLimits l;
  l.rows = 3;
  EXPECT_NO_THROW(read_csv("h\n1\n2\n3\n", l));
  EXPECT_NE(error_of([&] { read_csv("h\n1\n2\n3\n4\n", l); }).find("limit rows"), std::string::npos);
  EXPECT_NE(error_of([&] { read_jsonl("1\n2\n3\n4\n", l); }).find("limit rows"), std::string::npos);
  l = {};
  l.columns = 4;
  EXPECT_NO_THROW(read_csv("a,b,c,d\n1,\"2,3\",4,5\n", l));  // quoted commas are not separators
  EXPECT_NE(error_of([&] { read_csv("a,b,c,d,e\n", l); }).find("limit columns"), std::string::npos);
  l = {};
  l.text_bytes = 1000;
  std::string big = "<p>" + repeat("lorem ipsum ", 200) + "</p>";
  EXPECT_NE(error_of([&] { read_html(big, l); }).find("limit text_bytes"), std::string::npos);
  EXPECT_NE(error_of([&] { read_plain_text(repeat("x", 1001), l); }).find("limit text_bytes"), std::string::npos);
  EXPECT_NE(error_of([&] { read_docx(test::make_docx(test::docx_para(repeat("y", 1001))), l); }).find("limit text_bytes"),
            std::string::npos);
  l = {};
  l.seconds = 1e-3;
  std::string rows = "h\n" + repeat("a row of data\n", 2'000'000);
  EXPECT_NE(error_of([&] { read_csv(rows, l); }).find("limit seconds"), std::string::npos);
}

// Issue item 8: a 216 KB DOCX inflated to 1.25 GB, a 5.6 MB PPTX to 4.7 GB.
TEST(Hostile, ZipBombsAreRefusedByDecompressedSize) {
  std::string para = test::docx_para(repeat("bomb ", 50));
  std::string body = repeat(para, (80u << 20) / para.size());  // 80 MiB > the 64 MiB default
  std::string docx = test::make_docx(body);
  EXPECT_LT(docx.size(), 2u << 20);
  EXPECT_NE(error_of([&] { read_docx(docx); }).find("decompress to more than 67108864 bytes (limit unzipped_bytes)"),
            std::string::npos);
  // Slides of 8 MiB each, 16 of them: only the total is over the limit.
  std::string slide = test::pptx_slide("Boom", {repeat("slide text ", (8u << 20) / 11)});
  std::vector<std::pair<std::string, std::string>> parts;
  for (int i = 1; i <= 16; ++i) parts.emplace_back(fmt::format("ppt/slides/slide{}.xml", i), slide);
  std::string pptx = test::make_zip(parts);
  auto run = run_in_child([&] { return error_of([&] { read_pptx(pptx); }).find("limit unzipped_bytes") != std::string::npos; });
  EXPECT_TRUE(run.ok);
  EXPECT_LT(run.peak_rss_growth_mib, 512 * test::kSanitizerMemory) << "MiB (limit 512 MiB; unbounded it was 4.7 GB)";
}

// A zip whose directory claims a tiny part: reading stops at the claim, not at the real size.
TEST(Hostile, ZipThatLiesAboutSizesIsBoundedWhileReading) {
  std::string docx = test::make_docx(repeat(test::docx_para("lie"), 200000));  // ~6 MB of XML
  // Patch the uncompressed size of word/document.xml to 100 bytes, in the local header (offset 22)
  // and the central directory (offset 24).
  auto patch = [&](const char* sig, size_t field) {
    for (size_t p = docx.find(sig); p != std::string::npos; p = docx.find(sig, p + 4)) {
      size_t name_len = static_cast<unsigned char>(docx[p + (field == 22 ? 26 : 28)]);
      size_t name_at = p + (field == 22 ? 30 : 46);
      if (docx.compare(name_at, name_len, "word/document.xml") != 0) continue;
      docx[p + field] = 100;
      docx[p + field + 1] = docx[p + field + 2] = docx[p + field + 3] = 0;
    }
  };
  patch("PK\x03\x04", 22);
  patch("PK\x01\x02", 24);
  ReadLimits l;
  l.unzipped_bytes = 1 << 20;
  std::string err = error_of([&] { read_docx(docx, l); });
  EXPECT_FALSE(err.empty());  // truncated XML, a CRC error or the limit: never 6 MB read
}

TEST(Hostile, XmlDepthAndEntityBombsAreRefused) {
  std::string deep = repeat("<w:r>", 100000) + repeat("</w:r>", 100000);
  EXPECT_NE(error_of([&] { read_docx(test::make_docx("<w:p>" + deep + "</w:p>")); }).find("Excessive depth"),
            std::string::npos);
  std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"ha\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
      "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>"
      "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>"
      "<w:p><w:r><w:t>&d;&d;&d;</w:t></w:r></w:p></w:body></w:document>";
  EXPECT_NE(error_of([&] { read_docx(test::make_zip({{"word/document.xml", laughs}})); }), "");
  std::string dtd = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"ha\">]><w:document><w:p><w:r><w:t>&a;</w:t></w:r></w:p></w:document>";
  EXPECT_NE(error_of([&] { read_docx(test::make_zip({{"word/document.xml", dtd}})); }).find("document type declaration"),
            std::string::npos);
}

TEST(Hostile, LimitsAreSetByName) {
  ReadLimits l;
  set_read_limit(l, "depth=512");
  set_read_limit(l, "unzipped_bytes=1048576");
  set_read_limit(l, "seconds=2.5");
  EXPECT_EQ(l.depth, 512u);
  EXPECT_EQ(l.unzipped_bytes, 1048576u);
  EXPECT_EQ(l.seconds, 2.5);
  EXPECT_THROW(set_read_limit(l, "depth=100000"), Error);  // deeper walks could exhaust a thread's stack
  EXPECT_THROW(set_read_limit(l, "nope=1"), Error);
  EXPECT_THROW(set_read_limit(l, "rows=-1"), Error);
  EXPECT_THROW(set_read_limit(l, "rows"), Error);
  EXPECT_EQ(read_limit_values(ReadLimits{}).size(), 9u);
}

std::unique_ptr<Index> open_rw(const std::string& dir) {
  IndexOptions o;
  o.writable = true;
  return Index::open(dir, o);
}

// One ingest run over good and hostile files: the hostile ones fail with
// their reason, the good ones are searchable, and the run stays in bounded memory.
TEST(Hostile, IngestKeepsGoodFilesAndReportsHostileOnes) {
  test::TempDir t;
  write_file(t / "docs/good.txt", "Okapis live in the rainforest.\n");
  write_file(t / "docs/good.md", "# Notes\n\nQuokkas smile at tourists.\n");
  write_file(t / "docs/deep.html", repeat("<div>", 100000) + repeat("</div>", 100000));
  write_file(t / "docs/deep.jsonl", repeat("[", 1000000) + "\n");
  write_file(t / "docs/spans.html", "<p>" + repeat("<span>numbat ", 100000));
  write_file(t / "docs/keys.jsonl", "{" + repeat("\"k\": 1, ", 300000) + "\"z\": 2}\n");
  std::string para = test::docx_para(repeat("bomb ", 50));
  write_file(t / "docs/bomb.docx", test::make_docx(repeat(para, (80u << 20) / para.size())));
  auto run = run_in_child([&] {
    auto idx = open_rw(t / "idx");
    auto r = idx->ingest({t / "docs"}, IngestOptions{});
    bool ok = r.added == 2 && r.failed == 5 && !r.all_failed();
    for (const auto& [path, why] : r.failures)
      ok = ok && (why.find("(limit depth)") != std::string::npos || why.find("(limit unzipped_bytes)") != std::string::npos ||
                  why.find("(limit keys)") != std::string::npos);
    return ok;
  });
  EXPECT_TRUE(run.ok);
  EXPECT_LT(run.peak_rss_growth_mib, 768 * test::kSanitizerMemory) << "MiB for the whole run (limit 768 MiB)";
  auto idx = Index::open(t / "idx");
  SearchOptions o;
  o.mode = SearchMode::Bm25;
  for (const char* q : {"okapis", "quokkas"}) EXPECT_EQ(idx->search(q, o).hits.size(), 1u) << q;
  EXPECT_EQ(idx->stats().documents, 2u);
}

TEST(Hostile, MissingPathsAndAllFailedRunsAreReported) {
  test::TempDir t;
  write_file(t / "bad/a.pdf", "%PDF-1.4 not really");
  write_file(t / "bad/b.exe", "MZ");
  auto idx = open_rw(t / "idx");
  auto r = idx->ingest({t / "bad"}, IngestOptions{});
  EXPECT_EQ(r.failed, 2u);
  EXPECT_TRUE(r.all_failed());
  r = idx->ingest({t / "nowhere"}, IngestOptions{});
  EXPECT_EQ(r.missing, std::vector<std::string>{t / "nowhere"});
  EXPECT_TRUE(r.all_failed());
  write_file(t / "good/a.txt", "fine");
  r = idx->ingest({t / "good", t / "bad"}, IngestOptions{});
  EXPECT_FALSE(r.all_failed());
}

TEST(Hostile, SymlinksOutOfTheTreeAreNotFollowed) {
  test::TempDir t;
  write_file(t / "secret/key.txt", "private walrus material");
  write_file(t / "docs/own.txt", "public pelican notes");
  std::filesystem::create_symlink(t / "secret/key.txt", t / "docs/leak.txt");
  std::filesystem::create_symlink(t / "docs/own.txt", t / "docs/alias.txt");  // inside: followed
  std::filesystem::create_directory_symlink(t / "secret", t / "docs/secretdir");
  auto idx = open_rw(t / "idx");
  auto r = idx->ingest({t / "docs"}, IngestOptions{});
  EXPECT_EQ(r.added, 2u);
  ASSERT_EQ(r.failures.size(), 2u);
  std::sort(r.failures.begin(), r.failures.end());
  EXPECT_EQ(r.failures[0].first, t / "docs/leak.txt");
  EXPECT_EQ(r.failures[0].second, "symbolic link to outside the folder, not followed");
  EXPECT_EQ(r.failures[1].first, t / "docs/secretdir");
  SearchOptions o;
  o.mode = SearchMode::Bm25;
  EXPECT_TRUE(idx->search("walrus", o).hits.empty());
  EXPECT_EQ(idx->search("pelican", o).hits.size(), 2u);
}

// Issue item 11: invalid UTF-8 in a chunk or a file name made `--json` output throw.
TEST(Hostile, InvalidUtf8IsRepairedInJsonOutput) {
  test::TempDir t;
  write_file(t / "docs/bad\xff name.txt", "caf\xc3 latte \xfe\xff with oat milk");
  auto idx = open_rw(t / "idx");
  auto r = idx->ingest({t / "docs"}, IngestOptions{});
  EXPECT_EQ(r.added, 1u);
  SearchOptions o;
  o.mode = SearchMode::Bm25;
  auto res = idx->search("latte", o);
  ASSERT_EQ(res.hits.size(), 1u);
  EXPECT_THROW(to_json(res).dump(), nlohmann::json::type_error);  // what the CLI used to do
  std::string text = json_text(to_json(res));
  EXPECT_NE(text.find("caf\xef\xbf\xbd latte \xef\xbf\xbd\xef\xbf\xbd with"), std::string::npos);
  EXPECT_NE(text.find("bad\xef\xbf\xbd name.txt"), std::string::npos);
  EXPECT_NO_THROW(nlohmann::json::parse(text));
  EXPECT_NO_THROW(json_text(to_json(r)));
}

// The writer lock is released when opening fails after taking it.
TEST(Hostile, FailedOpenReleasesTheWriterLock) {
  test::TempDir t;
  write_file(t / "idx/index.sqlite", repeat("not a database ", 100));
  EXPECT_THROW(open_rw(t / "idx"), Error);
  std::filesystem::remove(t / "idx/index.sqlite");
  EXPECT_NO_THROW(open_rw(t / "idx"));  // a leaked lock would say "being written by another process"
}

}  // namespace
}  // namespace edgerag::rag
