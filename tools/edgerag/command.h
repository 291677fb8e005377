// Subcommand registry of the edgerag CLI. Each cmd_*.cpp defines one function
// that adds its subcommand to the app and registers it with EDGERAG_COMMAND.
// A name with a space ("eval retrieval") puts the subcommand under a shared
// parent ("eval"); the setup function then receives the parent app.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace edgerag::cli {

using CommandSetup = std::function<void(CLI::App&)>;
bool add_command(const std::string& name, CommandSetup setup);
const std::vector<std::pair<std::string, CommandSetup>>& commands();
std::string group_description(const std::string& parent);

// Shared flag helpers so every command spells them the same way.
std::string resolve_model_flag(const std::string& value);  // name or path -> path
// --models-dir DIR: where model names are looked up and `pull` saves files;
// overrides EDGERAG_MODELS for this run.
void add_models_dir_flag(CLI::App* cmd);

}  // namespace edgerag::cli

#define EDGERAG_COMMAND(name, fn) \
  static const bool edgerag_cmd_registered_##fn = ::edgerag::cli::add_command(name, fn)
