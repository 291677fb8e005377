// --speculative off|lookup|draft:MODEL|auto and --draft-max N: speculative
// decoding on the commands that run the decoder.
#pragma once
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/speculative.h"

namespace edgerag::cli {

struct SpecFlags {
  std::string mode = "off";
  int draft_max = 8;
  // Parsed, with MODEL of draft:MODEL resolved like -m (file or name in the models directory).
  SpecOptions options() const;
};

// Adds both flags; the returned flags are filled when the command line is parsed.
std::shared_ptr<SpecFlags> add_speculative_options(CLI::App* cmd);

}  // namespace edgerag::cli
