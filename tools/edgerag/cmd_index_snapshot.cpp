// edgerag index snapshot: a consistent copy of an index while it is being written
// (the writer node's publishing step, docs/SCALING.md).
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "command.h"
#include "rag/index_snapshot.h"

namespace edgerag::cli {
namespace {

struct SnapshotArgs {
  std::string index, out;
  rag::SnapshotOptions opt;
  bool json = false;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<SnapshotArgs>();
  auto* cmd = app.add_subcommand("snapshot", "Copy an index at one commit, safe while ingest runs (for read-only replicas)");
  cmd->add_option("--index", a->index, "Index directory to copy")->required();
  cmd->add_option("-o,--out", a->out, "Snapshot directory to create (written aside, then renamed into place)")->required();
  cmd->add_flag("--force", a->opt.replace, "Replace an existing snapshot directory (atomically)");
  cmd->add_flag("--json", a->json, "Print the report as one JSON object");
  cmd->callback([a] {
    const rag::SnapshotReport r = rag::snapshot_index(a->index, a->out, a->opt);
    if (a->json) {
      nlohmann::json j = {{"dir", r.dir},         {"documents", r.documents},
                          {"chunks", r.chunks},   {"vectors", r.vectors},
                          {"vector_generation", r.vector_generation}, {"graph", r.graph},
                          {"bytes", r.bytes},     {"seconds", r.seconds}};
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("snapshot %s: %zu documents, %zu chunks, %zu vectors (generation %lld%s), %.1f MB in %.2f s\n",
                r.dir.c_str(), r.documents, r.chunks, r.vectors, static_cast<long long>(r.vector_generation),
                r.graph ? ", HNSW graph" : "", r.bytes / 1e6, r.seconds);
  });
}

}  // namespace
EDGERAG_COMMAND("index snapshot", setup);
}  // namespace edgerag::cli
