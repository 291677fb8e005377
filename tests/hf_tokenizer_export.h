// Exports the byte-level BPE vocabulary of a GGUF file as Hugging Face
// tokenizer.json + tokenizer_config.json, the way those files are published
// (vocab {text: id}, merges "a b", added_tokens for special tokens, a
// ByteLevel or Split+ByteLevel pre-tokenizer), so tests can check that the
// tokenizer.json front end reproduces the GGUF tokenizer.
#pragma once
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "format/gguf.h"

namespace edgerag::test {

// The Split regexes as they appear in the published Qwen2 and Llama-3 tokenizer.json files.
inline const char* hf_split_regex(const std::string& pre) {
  if (pre == "qwen2")
    return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
           "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  if (pre == "llama-bpe")
    return "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
           "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  return nullptr;
}

inline void export_tokenizer_json(const GgufFile& f, const std::string& dir, bool merges_as_pairs = false) {
  using json = nlohmann::json;
  const auto& tokens = f.get_string_array("tokenizer.ggml.tokens");
  const auto types = f.get_int_array("tokenizer.ggml.token_type");
  const std::string pre = f.get_string("tokenizer.ggml.pre", "gpt-2");
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    const int64_t type = types.empty() ? 1 : types[id];
    if (type == 1) vocab[tokens[id]] = id;
    else
      added.push_back({{"id", id}, {"content", tokens[id]}, {"special", type == 3}, {"normalized", type != 3}});
  }
  json merges = json::array();
  for (const auto& m : f.get_string_array("tokenizer.ggml.merges")) {
    const size_t sp = m.find(' ', 1);
    if (merges_as_pairs) merges.push_back({m.substr(0, sp), m.substr(sp + 1)});
    else merges.push_back(m);
  }
  json pre_tok;
  if (const char* re = hf_split_regex(pre))
    pre_tok = {{"type", "Sequence"},
               {"pretokenizers",
                {{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}},
                 {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
  else
    pre_tok = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  const json tok = {{"version", "1.0"},
                    {"added_tokens", added},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", pre_tok},
                    {"decoder", {{"type", "ByteLevel"}}},
                    {"model", {{"type", "BPE"}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
  std::ofstream(dir + "/tokenizer.json") << tok.dump();

  json cfg = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
  const int64_t bos = f.get_int("tokenizer.ggml.bos_token_id", -1), eos = f.get_int("tokenizer.ggml.eos_token_id", -1);
  if (bos >= 0 && bos < static_cast<int64_t>(tokens.size())) cfg["bos_token"] = tokens[bos];
  if (eos >= 0 && eos < static_cast<int64_t>(tokens.size())) cfg["eos_token"] = {{"content", tokens[eos]}};
  if (f.has("tokenizer.ggml.add_bos_token")) cfg["add_bos_token"] = f.get_bool("tokenizer.ggml.add_bos_token", false);
  if (f.has("tokenizer.chat_template")) cfg["chat_template"] = f.get_string("tokenizer.chat_template");
  std::ofstream(dir + "/tokenizer_config.json") << cfg.dump();
}

}  // namespace edgerag::test
