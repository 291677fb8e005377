// The speculative-decoding flags shared by the commands that run the decoder.
#include "spec_flag.h"

#include "command.h"

namespace edgerag::cli {

SpecOptions SpecFlags::options() const {
  SpecOptions o = parse_speculative(mode, draft_max);
  if (o.mode == SpecMode::Draft) o.draft_model = resolve_model_flag(o.draft_model);
  return o;
}

std::shared_ptr<SpecFlags> add_speculative_options(CLI::App* cmd) {
  auto f = std::make_shared<SpecFlags>();
  cmd->add_option("--speculative", f->mode,
                  "Speculative decoding: off, lookup (drafts from n-grams of the prompt and output), "
                  "draft:MODEL (a small model with the same vocabulary) or auto (lookup for long prompts)")
      ->capture_default_str();
  cmd->add_option("--draft-max", f->draft_max, "Most draft tokens verified per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  return f;
}

}  // namespace edgerag::cli
