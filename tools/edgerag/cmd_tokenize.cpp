// edgerag tokenize: token ids and pieces of a text under a model's tokenizer.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "format/gguf.h"
#include "convert/hf_checkpoint.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::cli {
namespace {

struct TokenizeArgs {
  std::string model, prompt, file;
  bool json = false, no_special = false, parse_special = false;
};

std::string read_text(const TokenizeArgs& a) {
  if (a.file.empty()) return a.prompt;
  std::ifstream in(a.file, std::ios::binary);
  EDGERAG_CHECK(in.good(), "cannot read '{}'", a.file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run(const TokenizeArgs& a) {
  EDGERAG_CHECK(a.file.empty() != a.prompt.empty(), "tokenize: give exactly one of -p TEXT or -f FILE");
  auto f = open_model_file(resolve_model_flag(a.model));  // GGUF file or checkpoint directory
  auto tok = Tokenizer::from_gguf(*f);
  const auto ids = tok->encode(read_text(a), !a.no_special, a.parse_special);
  if (a.json) {
    nlohmann::json j;
    j["ids"] = ids;
    j["pieces"] = nlohmann::json::array();
    for (int32_t id : ids) j["pieces"].push_back(tok->token_to_piece(id));
    j["n_tokens"] = ids.size();
    // Pieces of byte tokens can be partial UTF-8 sequences: print U+FFFD for those bytes.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  for (int32_t id : ids) std::printf("%6d -> '%s'\n", id, tok->token_to_piece(id).c_str());
  std::printf("n_tokens = %zu\n", ids.size());
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces of a text");
  auto args = std::make_shared<TokenizeArgs>();
  cmd->add_option("-m,--model", args->model, "Model file or name in the models directory")->required();
  cmd->add_option("-p,--prompt", args->prompt, "Text to tokenize");
  cmd->add_option("-f,--file", args->file, "Read the text from this file instead");
  cmd->add_flag("--json", args->json, "Print one JSON object {ids, pieces, n_tokens}");
  cmd->add_flag("--no-special", args->no_special, "Do not add BOS/EOS ([CLS]/[SEP])");
  cmd->add_flag("--parse-special", args->parse_special, "Turn special-token texts like <|im_start|> into their tokens");
  cmd->callback([args] { run(*args); });
}

}  // namespace
EDGERAG_COMMAND("tokenize", setup);
}  // namespace edgerag::cli
