// What the web page uses: collections (list, create, delete), the document
// list, uploads streaming their ingest progress, query mode and filters, the
// page's own files; each within the API key's scope.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>

#include "loopback.h"
#include "webui/assets.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;
namespace fs = std::filesystem;

// A streamed multipart upload of one file: its events (progress..., report).
std::vector<json> upload_streamed(const Running& r, const std::string& key, const std::string& collection,
                                  const std::string& name, const std::string& content, int* status) {
  auto c = r.client(key);
  httplib::MultipartFormDataItems items = {
      {"collection", collection, "", ""}, {"stream", "true", "", ""}, {"file", content, name, "text/plain"}};
  auto res = c.Post("/v1/documents", items);
  EXPECT_TRUE(res);
  if (!res) return {};
  *status = res->status;
  if (res->status != 200) return {json::parse(res->body)};
  bool done = false;
  auto events = sse_events(res->body, &done);
  EXPECT_TRUE(done);
  return events;
}

std::vector<std::string> stages(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    if (e["object"] == "ingest.progress") out.push_back(e["stage"]);
  return out;
}

TEST(Library, CollectionsDocumentsAndStreamedUploads) {
  TempFolder dir("edgerag_library");
  Running r(index_only(dir.path.string()), {});
  auto c = r.client();
  int status = 0;

  // An upload reports parse, chunk, done and embed, then the report with the uploaded name.
  const std::string text = "# Lighthouses\n\nThe Bell Rock lighthouse was built between 1807 and 1810.\n";
  auto ev = upload_streamed(r, "", "default", "bell rock.md", text, &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(stages(ev), (std::vector<std::string>{"parse", "chunk", "done", "embed"}));
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.front()["file"], "bell rock.md");
  const json& rep = ev.back();
  EXPECT_EQ(rep["object"], "ingest.report");
  EXPECT_EQ(rep["added"], 1);
  EXPECT_EQ(rep["chunks"], 1);

  // The same bytes again: unchanged, nothing parsed.
  ev = upload_streamed(r, "", "default", "bell rock.md", text, &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(stages(ev), std::vector<std::string>{"done"});
  EXPECT_EQ(ev.back()["unchanged"], 1);
  EXPECT_EQ(ev.back()["added"], 0);

  // A file that cannot be read: a failure naming the uploaded file, nothing kept.
  ev = upload_streamed(r, "", "default", "broken.pdf", std::string("%PDF-1.4\n\x01\x02 not a pdf", 20), &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(ev.back()["failures"].size(), 1u);
  EXPECT_EQ(ev.back()["failures"][0]["name"], "broken.pdf");
  EXPECT_FALSE(fs::exists(ev.back()["failures"][0]["file"].get<std::string>()));

  // The document list: size, type, chunk count and ingest time.
  auto res = c.Get("/v1/documents?collection=default");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json docs = json::parse(res->body)["data"];
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["name"], "bell%20rock.md");  // stored escaped (server/rag_api)
  EXPECT_EQ(docs[0]["file_type"], "md");
  EXPECT_EQ(docs[0]["size"], text.size());
  EXPECT_EQ(docs[0]["chunks"], 1);
  EXPECT_GT(docs[0]["ingested_at"].get<int64_t>(), 1600000000);

  // Create, list (an empty one too), delete.
  json made = post(c, "/v1/collections", {{"name", "reports"}}, &status);
  EXPECT_EQ(status, 201) << made.dump();
  EXPECT_EQ(made["created"], true);
  post(c, "/v1/collections", {{"name", "reports"}}, &status);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(upload_streamed(r, "", "reports", "q3.txt", "Revenue grew in the third quarter.", &status).back()["added"], 1);
  res = c.Get("/v1/collections");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["data"],
            (json{{{"name", "default"}, {"documents", 1}, {"chunks", 1}}, {{"name", "reports"}, {"documents", 1}, {"chunks", 1}}}));
  res = c.Delete("/v1/collections?name=reports");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["documents"], 1);
  res = c.Get("/v1/collections");
  EXPECT_EQ(json::parse(res->body)["data"].size(), 1u);
  EXPECT_EQ(c.Delete("/v1/collections?name=reports")->status, 404);
  EXPECT_EQ(c.Get("/v1/documents?collection=reports")->body, R"({"collection":"reports","data":[],"object":"list"})");
  EXPECT_EQ(c.Get("/v1/documents?collection=default&limit=0")->status, 400);
  post(c, "/v1/collections", {{"name", ""}}, &status);
  EXPECT_EQ(status, 400);
  post(c, "/v1/collections", json::array(), &status);
  EXPECT_EQ(status, 400);
}

TEST(Library, ScopesModeAndFilters) {
  TempFolder dir("edgerag_library_scope");
  ServerOptions opt;
  opt.api_keys = {"admin", "alice-key:alice", "reader:alice:read"};
  Running r(index_only(dir.path.string()), opt);
  int status = 0;
  auto ev = upload_streamed(r, "admin", "alice", "tides.md", "The tide rises twice a day at the harbour.", &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(ev.back()["added"], 1) << ev.back().dump();
  ev = upload_streamed(r, "admin", "bob", "tides.txt", "Bob's tide table lists the harbour tide.", &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(ev.back()["added"], 1) << ev.back().dump();

  auto names = [&](const std::string& key) {
    auto res = r.client(key).Get("/v1/collections");
    EXPECT_EQ(res->status, 200) << res->body;
    std::vector<std::string> out;
    const json list = json::parse(res->body);
    for (const auto& c : list["data"]) out.push_back(c["name"]);
    return out;
  };
  EXPECT_EQ(names("admin"), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(names("alice-key"), std::vector<std::string>{"alice"});
  EXPECT_EQ(r.client("").Get("/v1/collections")->status, 401);
  EXPECT_EQ(r.client("alice-key").Get("/v1/documents?collection=bob")->status, 403);
  post(r.client("reader"), "/v1/collections", {{"name", "alice"}}, &status);
  EXPECT_EQ(status, 403);
  EXPECT_EQ(r.client("alice-key").Delete("/v1/collections?name=bob")->status, 403);

  // Filters: only md files; mode dense on an index without vectors is refused.
  json a = post(r.client("admin"), "/v1/rag/query",
                {{"question", "When does the tide rise?"}, {"filter", {{"file_types", {"md"}}}}, {"mode", "bm25"}}, &status);
  ASSERT_EQ(status, 200) << a.dump();
  ASSERT_FALSE(a["citations"].empty());
  for (const auto& c : a["citations"]) EXPECT_TRUE(c["file"].get<std::string>().ends_with("tides.md")) << c.dump();
  // With the answer cache on, a filter still changes the answer: no md file, no tides.md.
  const json cached = {{"adaptive", {{"cache", true}}}};
  json all = post(r.client("admin"), "/v1/rag/query", {{"question", "When does the tide rise?"}, {"config", cached}}, &status);
  ASSERT_EQ(status, 200) << all.dump();
  json txt = post(r.client("admin"), "/v1/rag/query",
                  {{"question", "When does the tide rise?"}, {"config", cached}, {"filter", {{"file_types", {"txt"}}}}},
                  &status);
  ASSERT_EQ(status, 200) << txt.dump();
  ASSERT_FALSE(txt["citations"].empty());
  for (const auto& c : txt["citations"]) EXPECT_TRUE(c["file"].get<std::string>().ends_with("tides.txt")) << c.dump();
  post(r.client("admin"), "/v1/rag/query", {{"question", "tide?"}, {"mode", "dense"}}, &status);
  EXPECT_EQ(status, 400);
  post(r.client("admin"), "/v1/rag/query", {{"question", "tide?"}, {"mode", "fast"}}, &status);
  EXPECT_EQ(status, 400);
  post(r.client("admin"), "/v1/rag/query", {{"question", "tide?"}, {"filter", {{"file_types", "md"}}}}, &status);
  EXPECT_EQ(status, 400);
}

TEST(Library, ThePageIsServedWithoutAKeyAndLoadsNothingElsewhere) {
  TempFolder dir("edgerag_library_page");
  ServerOptions opt;
  opt.api_keys = {"secret"};
  Running r(index_only(dir.path.string()), opt);
  auto c = r.client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_EQ(page->get_header_value("Content-Security-Policy").rfind("default-src 'self';", 0), 0u);
  for (const auto& a : webui::assets()) {
    auto res = c.Get(std::string(a.path));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << a.path;
    EXPECT_EQ(res->body, a.bytes) << a.path;
    // No address of another host in any file the page loads.
    EXPECT_EQ(res->body.find("http://"), std::string::npos) << a.path;
    EXPECT_EQ(res->body.find("https://"), std::string::npos) << a.path;
  }
  EXPECT_EQ(c.Get("/app.js")->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(c.Get("/nope.js")->status, 404);
  EXPECT_EQ(c.Get("/v1/server")->status, 401);
  EXPECT_EQ(r.client("secret").Get("/v1/server")->status, 200);
}

}  // namespace
}  // namespace edgerag::server
