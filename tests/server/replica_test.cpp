// A read-only replica (`serve --read-only` over a published snapshot): every
// write endpoint answers 403 and reads work; POST /admin/reload (admin only)
// switches to the snapshot the index path names now, queries in flight finish
// on the old one, and a reload that fails keeps the old index and says why.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <set>

#include "loopback.h"
#include "rag/index_snapshot.h"
#include "server/api_error.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;
namespace fs = std::filesystem;

const rag::TextDocument kLighthouse{"lighthouse", "Lighthouse",
                                    "The Bell Rock lighthouse was built between 1807 and 1810 on a reef."};
const rag::TextDocument kGlacier{"glacier", "Glacier", "The Aletsch glacier flows south from the Jungfrau."};

// A writer index and snapshots of it published through a symlink, as a writer node does.
struct Published {
  TempFolder tmp{"edgerag_replica"};
  std::string writer = (tmp.path / "writer").string(), current = (tmp.path / "current").string();
  int n = 0;
  explicit Published(const std::vector<rag::TextDocument>& docs) { publish(docs); }
  // Ingests `docs`, snapshots the writer and points `current` at the snapshot (atomically).
  std::string publish(const std::vector<rag::TextDocument>& docs) {
    rag::Index::open(writer, {.writable = true})->ingest_texts(docs, rag::IngestOptions{});
    const std::string snap = (tmp.path / fmt::format("snap{}", ++n)).string();
    rag::snapshot_index(writer, snap);
    point_at(snap);
    return snap;
  }
  void point_at(const std::string& target) {
    const fs::path link = tmp.path / "current.new";
    fs::create_directory_symlink(target, link);
    fs::rename(link, current);
  }
};

ServerOptions read_only(std::vector<std::string> keys = {}) {
  ServerOptions o;
  o.rag.read_only = true;
  o.api_keys = std::move(keys);
  return o;
}

std::set<std::string> cited_files(const Running& r, const std::string& question, const std::string& key = "") {
  int status = 0;
  const json a = post(r.client(key), "/v1/rag/query", {{"question", question}}, &status);
  EXPECT_EQ(status, 200) << a.dump();
  std::set<std::string> files;
  for (const auto& c : a["citations"]) files.insert(c["file"].get<std::string>());
  return files;
}

TEST(Replica, ReadOnlyRefusesEveryWriteAndServesReads) {
  Published pub({kLighthouse});
  Running r(index_only(pub.current), read_only());
  auto c = r.client();
  auto refused = [](const httplib::Result& res) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403) << res->body;
    const json e = json::parse(res->body)["error"];
    EXPECT_EQ(e["code"], "read_only");
    EXPECT_NE(e["message"].get<std::string>().find("read-only index replica"), std::string::npos);
  };
  refused(c.Post("/v1/documents", json{{"documents", {{{"key", "k"}, {"text", "new text"}}}}}.dump(), "application/json"));
  httplib::MultipartFormDataItems items = {{"file", "uploaded text", "a.txt", "text/plain"}};
  refused(c.Post("/v1/documents", items));
  items.push_back({"stream", "true", "", ""});
  refused(c.Post("/v1/documents", items));
  refused(c.Delete("/v1/documents?path=lighthouse"));
  refused(c.Post("/v1/collections", json{{"name", "more"}}.dump(), "application/json"));
  refused(c.Delete("/v1/collections?name=default"));

  auto list = c.Get("/v1/collections");
  ASSERT_EQ(list->status, 200) << list->body;
  EXPECT_EQ(json::parse(list->body)["data"][0]["documents"], 1);
  auto docs = c.Get("/v1/documents?collection=default");
  ASSERT_EQ(docs->status, 200) << docs->body;
  EXPECT_EQ(json::parse(docs->body)["data"][0]["path"], "lighthouse");
  EXPECT_EQ(cited_files(r, "When was the Bell Rock lighthouse built?"), std::set<std::string>{"lighthouse"});
  EXPECT_EQ(json::parse(c.Get("/v1/server")->body)["read_only"], true);
  EXPECT_EQ(rag::Index::open(pub.current)->stats().documents, 1u);  // nothing was written
}

TEST(Replica, ReloadSwitchesToTheNewerSnapshotAndAFailedOneKeepsTheOld) {
  Published pub({kLighthouse});
  Running r(index_only(pub.current), read_only());
  const std::string q = "Where does the Aletsch glacier flow?";
  EXPECT_EQ(cited_files(r, q).count("glacier"), 0u);
  const std::string snap2 = pub.publish({kGlacier});
  EXPECT_EQ(cited_files(r, q).count("glacier"), 0u) << "switched before the reload";
  int status = 0;
  json rep = post(r.client(), "/admin/reload", json::object(), &status);
  ASSERT_EQ(status, 200) << rep.dump();
  EXPECT_EQ(rep["index"], fs::canonical(snap2).string());
  EXPECT_EQ(rep["documents"], 2);
  EXPECT_EQ(cited_files(r, q).count("glacier"), 1u);

  // A link to something that is not an index: 409 naming the index still served, which keeps answering.
  fs::create_directory(pub.tmp.path / "empty");
  pub.point_at((pub.tmp.path / "empty").string());
  rep = post(r.client(), "/admin/reload", json::object(), &status);
  EXPECT_EQ(status, 409);
  const std::string why = rep["error"]["message"];
  EXPECT_NE(why.find("reload failed, still serving " + fs::canonical(snap2).string()), std::string::npos) << why;
  EXPECT_NE(why.find("no index at"), std::string::npos) << why;
  EXPECT_EQ(cited_files(r, q).count("glacier"), 1u);
}

TEST(Replica, ReloadIsForAdminKeysOnly) {
  Published pub({kLighthouse});
  Running r(index_only(pub.current), read_only({"admin", "reader:*:read", "alice:alice"}));
  EXPECT_EQ(r.client().Post("/admin/reload")->status, 401);
  EXPECT_EQ(r.client("wrong").Post("/admin/reload")->status, 401);
  EXPECT_EQ(r.client("reader").Post("/admin/reload")->status, 403);
  EXPECT_EQ(r.client("alice").Post("/admin/reload")->status, 403);
  EXPECT_EQ(r.client("admin").Post("/admin/reload")->status, 200);
  EXPECT_EQ(cited_files(r, "When was the Bell Rock lighthouse built?", "reader"), std::set<std::string>{"lighthouse"});
}

// A query holding an engine across a reload finishes on the index it started
// with; the next one opens the new snapshot.
TEST(Replica, QueriesInFlightFinishOnTheOldIndex) {
  Published pub({kLighthouse});
  RagEngines engines(pub.current, {}, 2, /*read_only=*/true);
  auto in_flight = engines.acquire();
  pub.publish({kGlacier});
  EXPECT_EQ(engines.reload().documents, 2u);
  const std::string q = "the lighthouse and the glacier";
  auto files = [&](rag::AnswerEngine& e) {
    std::set<std::string> out;
    for (const auto& h : e.answer(q, rag::AnswerConfig{}).context) out.insert(h.provenance.path);
    return out;
  };
  EXPECT_EQ(files(*in_flight), std::set<std::string>{"lighthouse"});
  auto fresh = engines.acquire();
  EXPECT_EQ(files(*fresh), (std::set<std::string>{"glacier", "lighthouse"}));
  EXPECT_THROW(engines.write([](rag::Index&) {}), ApiError);
}

}  // namespace
}  // namespace edgerag::server
