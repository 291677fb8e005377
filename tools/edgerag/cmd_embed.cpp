// edgerag embed: one L2-normalized embedding per text.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "device_flag.h"
#include "model/bert_encoder.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("embed", "Embed texts with a BERT-family model (L2-normalized vectors)");
  struct Args {
    std::string model, role = "plain";
    std::vector<std::string> texts;
    int batch = 32, threads = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("-m,--model", a->model, "Embedding model file or name")->required();
  cmd->add_option("texts", a->texts, "Texts to embed")->required();
  cmd->add_option("--role", a->role, "plain | query | passage (adds the model's prefix)")
      ->check(CLI::IsMember({"plain", "query", "passage"}));
  cmd->add_option("--batch", a->batch, "Texts per forward pass");
  cmd->add_option("--threads", a->threads, "Worker threads (default: all)");
  cmd->add_flag("--json", a->json, "Print {\"embeddings\": [[...], ...]}");
  add_device_options(cmd);
  cmd->callback([a] {
    auto enc = Encoder::load(resolve_model_flag(a->model), {.batch_size = a->batch, .n_threads = a->threads});
    const TextRole role = a->role == "query" ? TextRole::Query : a->role == "passage" ? TextRole::Passage : TextRole::Plain;
    const auto emb = enc->embed(a->texts, role);
    if (a->json) {
      std::printf("%s\n", nlohmann::json{{"embeddings", emb}}.dump().c_str());
      return;
    }
    for (const auto& v : emb) {
      for (size_t i = 0; i < v.size(); ++i) std::printf(i ? " %.7f" : "%.7f", v[i]);
      std::printf("\n");
    }
  });
}

}  // namespace
EDGERAG_COMMAND("embed", setup);
}  // namespace edgerag::cli
