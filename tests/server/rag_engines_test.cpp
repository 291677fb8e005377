// The RAG engine pool without an embedder given: the index's recorded
// embedder is loaded once, shared by the query engines and the writer, and
// not reloaded when a write makes every engine reopen.
#include "server/rag_engines.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "loopback.h"

namespace edgerag::server {
namespace {

using test_support::TempFolder;

void ingest_one(rag::Index& index, int i) {
  const rag::TextDocument doc{.key = "doc" + std::to_string(i), .title = "Llamas",
                              .text = "The llama number " + std::to_string(i) + " grazes near the river."};
  rag::IngestOptions io;
  io.collection = "herd";
  const rag::IngestReport rep = index.ingest_texts({doc}, io);
  ASSERT_EQ(rep.failed, 0u);
}

TEST(RagEngines, RecordedEmbedderLoadedOnce) {
  TempFolder dir("edgerag_rag_engines");
  const std::string embed = test::model_path("synth-bert-embed.gguf");
  {
    auto index = rag::Index::open(dir.path.string(), {.writable = true});
    index->set_embedder(rag::load_embedder(embed));
    ingest_one(*index, 0);
  }
  RagEngines engines(dir.path.string(), /*encoders=*/{}, /*readers=*/2);
  const std::shared_ptr<rag::Embedder> first = engines.embedder();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->name(), std::filesystem::canonical(embed).string());
  for (int i = 1; i <= 3; ++i) {
    // The index holds vectors: an upload needs the recorded embedder.
    engines.write([&](rag::Index& index) { ingest_one(index, i); });
    auto lease = engines.acquire();  // a fresh engine: the write made the idle ones stale
    EXPECT_TRUE(lease->has_embedder());
    EXPECT_EQ(engines.embedder().get(), first.get()) << "the embedder was loaded again";
  }
  const rag::IndexStats stats = rag::Index::open(dir.path.string())->stats();
  EXPECT_EQ(stats.documents, 4u);
  EXPECT_EQ(stats.vectors, stats.chunks);  // the uploads were embedded too
}

}  // namespace
}  // namespace edgerag::server
