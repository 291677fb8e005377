// edgerag: ingest, retrieve, rerank and answer with a local quantized LLM.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "command.h"
#include "util/error.h"
#include "util/paths.h"

namespace edgerag::cli {

static std::vector<std::pair<std::string, CommandSetup>>& registry() {
  static std::vector<std::pair<std::string, CommandSetup>> r;
  return r;
}

bool add_command(const std::string& name, CommandSetup setup) {
  registry().emplace_back(name, std::move(setup));
  return true;
}

const std::vector<std::pair<std::string, CommandSetup>>& commands() { return registry(); }

std::string group_description(const std::string& parent) {
  if (parent == "eval") return "Measure quality: retrieval, perplexity, QA, multiple choice";
  if (parent == "bench") return "Measure speed and memory (JSON figures)";
  if (parent == "report") return "Run a whole study and write its tables";
  if (parent == "index") return "Manage indexes: consistent snapshots for read-only replicas";
  return parent + " commands";
}

std::string resolve_model_flag(const std::string& value) {
  return resolve_model(value, std::string(EDGERAG_DEFAULT_SHARED_DIR) + "/models");
}

void add_models_dir_flag(CLI::App* cmd) {
  cmd->add_option_function<std::string>(
      "--models-dir", [](const std::string& dir) { ::setenv("EDGERAG_MODELS", dir.c_str(), 1); },
      "Models directory (default: EDGERAG_MODELS, else ~/.local/share/edgerag/models if it exists, else the shared "
      "test models)");
}

}  // namespace edgerag::cli

int main(int argc, char** argv) {
  CLI::App app{"edgerag: hardware-efficient retrieval-augmented generation on edge machines"};
  app.set_version_flag("--version", EDGERAG_VERSION);
  app.require_subcommand(1);
  auto cmds = edgerag::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // "eval retrieval" registers `retrieval` under a shared `eval` parent command.
  for (auto& [name, setup] : cmds) {
    auto space = name.find(' ');
    if (space == std::string::npos) {
      setup(app);
      continue;
    }
    std::string parent = name.substr(0, space);
    CLI::App* group = nullptr;
    try {
      group = app.get_subcommand(parent);
    } catch (const CLI::OptionNotFound&) {
      group = app.add_subcommand(parent, edgerag::cli::group_description(parent));
      group->require_subcommand(1);
    }
    setup(*group);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const edgerag::Error& e) {
    std::fprintf(stderr, "edgerag: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgerag: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
