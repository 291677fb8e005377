// Tenancy of the RAG endpoints: API keys scoped to collections (403 outside
// the scope, queries read only the key's collections), collections kept apart
// by id whatever their names, uploads removed with their document or when
// their ingest fails; and the bounds of a RAG request.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "loopback.h"

namespace edgerag::server {
namespace {

using nlohmann::json;
using namespace test_support;
namespace fs = std::filesystem;

// Multipart upload of one file; the response (status in *status).
json upload(const Running& r, const std::string& key, const std::string& collection, const std::string& name,
            const std::string& content, int* status) {
  auto c = r.client(key);
  httplib::MultipartFormDataItems items = {{"collection", collection, "", ""}, {"file", content, name, "text/plain"}};
  auto res = c.Post("/v1/documents", items);
  EXPECT_TRUE(res);
  if (!res) return json();
  *status = res->status;
  return json::parse(res->body);
}

int remove_doc(const Running& r, const std::string& key, const std::string& collection, const std::string& path) {
  auto c = r.client(key);
  auto res = c.Delete("/v1/documents", json{{"collection", collection}, {"path", path}}.dump(), "application/json");
  EXPECT_TRUE(res);
  return res ? res->status : 0;
}

json ask(const Running& r, const std::string& key, json body, int* status) {
  return post(r.client(key), "/v1/rag/query", body, status);
}

// The text of every chunk an answer cites or was given.
std::string cited_text(const json& a) {
  std::string all;
  for (const json& c : a["citations"]) all += c["text"].get<std::string>() + "\n";
  return all + a["answer"].get<std::string>();
}

TEST(Tenancy, ScopedKeysCollectionsByIdAndUploadFiles) {
  TempFolder dir("edgerag_tenancy");
  ServerOptions opt;
  opt.api_keys = {"admin", "alice-key:alice", "bob-key:x/alice,a b", "reader:alice:read", "all-reader:*:read"};
  Running r(index_only(dir.path.string()), opt);
  int status = 0;

  // Names that one sanitized folder name would have merged: alice / x/alice, "a b" / "a_b", "a b.txt" / "a_b.txt".
  json a1 = upload(r, "alice-key", "alice", "a b.txt", "Alice keeps the llama feeding schedule.", &status);
  ASSERT_EQ(status, 200) << a1.dump();
  json a2 = upload(r, "alice-key", "alice", "a_b.txt", "Alice waters the cactus on Sundays.", &status);
  ASSERT_EQ(status, 200) << a2.dump();
  json b1 = upload(r, "bob-key", "x/alice", "a b.txt", "Bob measures the llama wool harvest.", &status);
  ASSERT_EQ(status, 200) << b1.dump();
  json b2 = upload(r, "bob-key", "a b", "notes.txt", "Bob repairs the llama barn roof.", &status);
  ASSERT_EQ(status, 200) << b2.dump();
  json c1 = upload(r, "admin", "a_b", "notes.txt", "The admin audits llama invoices.", &status);
  ASSERT_EQ(status, 200) << c1.dump();
  std::set<std::string> paths;
  for (const json* j : {&a1, &a2, &b1, &b2, &c1}) {
    EXPECT_EQ((*j)["added"], 1) << j->dump();
    ASSERT_EQ((*j)["stored"].size(), 1u);
    paths.insert((*j)["stored"][0]["path"].get<std::string>());
  }
  EXPECT_EQ(paths.size(), 5u);  // five files, none overwritten
  EXPECT_EQ(test::read_file(a1["stored"][0]["path"]), "Alice keeps the llama feeding schedule.");
  EXPECT_EQ(test::read_file(b1["stored"][0]["path"]), "Bob measures the llama wool harvest.");
  EXPECT_EQ(test::read_file(b2["stored"][0]["path"]), "Bob repairs the llama barn roof.");
  EXPECT_EQ(test::read_file(c1["stored"][0]["path"]), "The admin audits llama invoices.");

  // Writes outside the key's scope, or with a read-only key: 403, nothing changes.
  upload(r, "bob-key", "alice", "evil.txt", "Bob was here.", &status);
  EXPECT_EQ(status, 403);
  upload(r, "reader", "alice", "evil.txt", "Reader was here.", &status);
  EXPECT_EQ(status, 403);
  post(r.client("bob-key"), "/v1/documents", {{"collection", "alice"}, {"documents", {{{"key", "k"}, {"text", "t"}}}}},
       &status);
  EXPECT_EQ(status, 403);
  const std::string alice_path = a1["stored"][0]["path"];
  EXPECT_EQ(remove_doc(r, "bob-key", "alice", alice_path), 403);
  EXPECT_EQ(remove_doc(r, "reader", "alice", alice_path), 403);
  EXPECT_EQ(remove_doc(r, "all-reader", "alice", alice_path), 403);
  EXPECT_TRUE(fs::exists(alice_path));
  upload(r, "", "alice", "anon.txt", "Anyone.", &status);
  EXPECT_EQ(status, 401);

  // Queries read only the key's collections.
  const json q = {{"question", "Who works with the llama?"}, {"config", {{"prompt", {{"max_chunks", 8}}}}}};
  json bob = ask(r, "bob-key", q, &status);
  ASSERT_EQ(status, 200) << bob.dump();
  ASSERT_FALSE(bob["citations"].empty()) << bob.dump();
  EXPECT_EQ(cited_text(bob).find("Alice"), std::string::npos) << bob.dump();
  EXPECT_EQ(cited_text(bob).find("admin"), std::string::npos) << bob.dump();
  json alice = ask(r, "reader", q, &status);
  ASSERT_EQ(status, 200) << alice.dump();
  ASSERT_FALSE(alice["citations"].empty());
  EXPECT_EQ(cited_text(alice).find("Bob"), std::string::npos) << alice.dump();
  // Naming a collection narrows the search; one outside the scope is 403.
  json one = ask(r, "bob-key", {{"question", "Who works with the llama?"}, {"collection", "a b"}}, &status);
  ASSERT_EQ(status, 200) << one.dump();
  for (const json& c : one["citations"]) EXPECT_EQ(c["file"], b2["stored"][0]["path"]) << one.dump();
  ask(r, "bob-key", {{"question", "llama?"}, {"collection", "alice"}}, &status);
  EXPECT_EQ(status, 403);
  ask(r, "bob-key", {{"question", "llama?"}, {"collection", "a_b"}}, &status);
  EXPECT_EQ(status, 403);  // "a_b" is not "a b"
  json all = ask(r, "admin", q, &status);
  ASSERT_EQ(status, 200);
  EXPECT_GE(all["context_chunks"].get<int>(), 4);  // every document mentioning a llama

  // Deleting a document deletes the server's copy of the upload.
  EXPECT_EQ(remove_doc(r, "alice-key", "alice", alice_path), 200);
  EXPECT_FALSE(fs::exists(alice_path));
  EXPECT_EQ(remove_doc(r, "alice-key", "alice", alice_path), 404);
  // An upload whose ingest fails is not kept.
  json bad = upload(r, "alice-key", "alice", "broken.pdf", "%PDF-1.4 this is not a PDF", &status);
  ASSERT_EQ(status, 200) << bad.dump();
  EXPECT_EQ(bad["failed"], 1) << bad.dump();
  EXPECT_FALSE(fs::exists(bad["stored"][0]["path"].get<std::string>()));
}

TEST(Tenancy, KeySpecsAreChecked) {
  EXPECT_THROW(ApiKeys({":alice"}), Error);
  EXPECT_THROW(ApiKeys({"k:alice:admin"}), Error);
  EXPECT_THROW(ApiKeys({"k:alice,,bob"}), Error);
  ApiKeys keys({"k1:notes:read", "k2"});
  auto s = keys.scope("Bearer k1");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->write);
  EXPECT_TRUE(s->covers("notes"));
  EXPECT_FALSE(s->covers("other"));
  EXPECT_TRUE(keys.scope("Bearer k2")->covers("other"));
  EXPECT_FALSE(keys.scope("Bearer k3"));
  EXPECT_FALSE(keys.scope("k1"));
}

}  // namespace
}  // namespace edgerag::server
