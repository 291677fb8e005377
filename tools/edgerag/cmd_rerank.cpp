// edgerag rerank: one raw cross-encoder score per document, in input order.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "model/bert_encoder.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("rerank", "Score documents against a query with a cross-encoder");
  struct Args {
    std::string model, query;
    std::vector<std::string> docs;
    int batch = 32, threads = 0;
    bool json = false, type_zero = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-m,--model", a->model, "Reranker model file or name")->required();
  cmd->add_option("-q,--query", a->query, "Query")->required();
  cmd->add_option("docs", a->docs, "Documents to score")->required();
  cmd->add_option("--batch", a->batch, "Pairs per forward pass");
  cmd->add_option("--threads", a->threads, "Worker threads (default: all)");
  cmd->add_flag("--token-type-zero", a->type_zero,
                "Token type 0 for the document segment too (llama.cpp's convention)");
  cmd->add_flag("--json", a->json, "Print {\"scores\": [...]}");
  add_device_options(cmd);
  cmd->callback([a] {
    auto enc = Encoder::load(resolve_model_flag(a->model),
                             {.batch_size = a->batch, .n_threads = a->threads, .token_type_zero = a->type_zero});
    const auto scores = enc->rerank(a->query, a->docs);
    if (a->json) {
      std::printf("%s\n", nlohmann::json{{"scores", scores}}.dump().c_str());
      return;
    }
    for (float s : scores) std::printf("%.7f\n", s);
  });
}

}  // namespace
EDGERAG_COMMAND("rerank", setup);
}  // namespace edgerag::cli
