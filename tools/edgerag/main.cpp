// edgerag: ingest, retrieve, rerank and answer with a local quantized LLM.
#include <algorithm>
#include <cstdio>

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

std::string resolve_model_flag(const std::string& value) {
  return resolve_model(value, std::string(EDGERAG_DEFAULT_SHARED_DIR) + "/models");
}

}  // namespace edgerag::cli

int main(int argc, char** argv) {
  CLI::App app{"edgerag: hardware-efficient retrieval-augmented generation on edge machines"};
  app.set_version_flag("--version", EDGERAG_VERSION);
  app.require_subcommand(1);
  auto cmds = edgerag::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : cmds) setup(app);
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
