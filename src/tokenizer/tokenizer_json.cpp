#include "tokenizer/tokenizer_json.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "format/json_file.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag {
namespace {

using json = nlohmann::json;

// Split regexes of the Hugging Face tokenizer.json files and the llama.cpp
// pre-tokenizer type that implements each one.
const std::pair<const char*, const char*> kSplitRegexes[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+",
     "qwen2"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+",
     "llama-bpe"},
};

// The pre-tokenizer steps of tokenizer.json as a flat list (a Sequence is unrolled).
std::vector<json> pre_steps(const json& pre) {
  if (pre.is_null()) return {};
  if (pre.value("type", "") == "Sequence") return pre.value("pretokenizers", std::vector<json>{});
  return {pre};
}

// llama.cpp's pre-tokenizer type for the tokenizer.json pre_tokenizer:
// ByteLevel with its own regex is GPT-2's; a Split regex followed by a
// regex-less ByteLevel is looked up in kSplitRegexes.
std::string pre_type(const json& pre, const std::string& where) {
  const std::vector<json> steps = pre_steps(pre);
  if (steps.size() == 1 && steps[0].value("type", "") == "ByteLevel" && steps[0].value("use_regex", true))
    return "gpt-2";
  if (steps.size() == 2 && steps[0].value("type", "") == "Split" && steps[1].value("type", "") == "ByteLevel" &&
      !steps[1].value("use_regex", true)) {
    const json& pattern = steps[0].value("pattern", json::object());
    const std::string regex = pattern.value("Regex", "");
    for (const auto& [re, name] : kSplitRegexes)
      if (regex == re) return name;
    fail("{}: pre-tokenizer regex '{}' is not supported (known: the GPT-2, Qwen2 and Llama-3 patterns)", where, regex);
  }
  fail("{}: unsupported pre_tokenizer {} (byte-level BPE with the GPT-2, Qwen2 or Llama-3 regex is supported)", where,
       pre.dump());
}

// llama.cpp's does_token_look_special: "<|...|>" markers are control tokens even when not flagged special.
bool looks_special(const std::string& t) {
  return t.size() >= 4 && t.compare(0, 2, "<|") == 0 && t.compare(t.size() - 2, 2, "|>") == 0;
}

// A special token named in tokenizer_config.json: a string or {"content": ...}.
std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return {};
}

void convert(const std::string& dir, const std::string& path, int64_t n_vocab, GgufWriter& w) {
  namespace fs = std::filesystem;
  const json tok = read_json_file(path);
  EDGERAG_CHECK(tok.is_object() && tok.contains("model") && tok["model"].is_object(), "{}: no \"model\" object", path);
  const json& model = tok["model"];
  const std::string type = model.value("type", "");
  EDGERAG_CHECK(type == "BPE", "{}: tokenizer model type '{}' is not supported (byte-level BPE only)", path, type);
  EDGERAG_CHECK(!model.value("byte_fallback", false),
                "{}: SentencePiece-style BPE (byte_fallback) is not supported; convert the model to GGUF with "
                "llama.cpp instead",
                path);
  EDGERAG_CHECK(model.contains("vocab") && model["vocab"].is_object(), "{}: model.vocab is not an object", path);
  const std::string pre = pre_type(tok.value("pre_tokenizer", json()), path);

  // Token ids: the vocabulary, then added tokens (which may extend or relabel it).
  std::map<int64_t, std::string> by_id;
  for (const auto& [text, id] : model["vocab"].items()) {
    EDGERAG_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (int64_t{1} << 31),
                  "{}: token '{}' has a bad id", path, text);
    EDGERAG_CHECK(by_id.emplace(id.get<int64_t>(), text).second, "{}: id {} is used twice", path, id.get<int64_t>());
  }
  std::map<int64_t, TokenType> added;
  for (const json& a : tok.value("added_tokens", std::vector<json>{})) {
    EDGERAG_CHECK(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a["id"].get<int64_t>() >= 0 &&
                      a["id"].get<int64_t>() < (int64_t{1} << 31) && a.contains("content") && a["content"].is_string(),
                  "{}: malformed added_tokens entry {}", path, a.dump());
    const int64_t id = a["id"].get<int64_t>();
    const std::string content = a["content"].get<std::string>();
    by_id[id] = content;
    added[id] = a.value("special", false) || looks_special(content) ? TokenType::Control : TokenType::UserDefined;
  }
  EDGERAG_CHECK(!by_id.empty(), "{}: empty vocabulary", path);
  const int64_t n = std::max(n_vocab, by_id.rbegin()->first + 1);
  std::vector<std::string> tokens(n);
  std::vector<int64_t> types(n, static_cast<int64_t>(TokenType::Normal));
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      tokens[id] = fmt::format("[PAD{}]", id);
      types[id] = static_cast<int64_t>(TokenType::Unused);
      continue;
    }
    tokens[id] = it->second;
    if (auto a = added.find(id); a != added.end()) types[id] = static_cast<int64_t>(a->second);
  }

  std::vector<std::string> merges;
  for (const json& m : model.value("merges", std::vector<json>{})) {
    if (m.is_string()) {
      merges.push_back(m.get<std::string>());
    } else {
      EDGERAG_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                    "{}: merge {} is neither \"a b\" nor [a, b]", path, m.dump());
      merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    }
  }
  EDGERAG_CHECK(!merges.empty(), "{}: BPE model without merges", path);

  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_string_array("tokenizer.ggml.tokens", std::move(tokens));
  w.set_i32_array("tokenizer.ggml.token_type", std::move(types));
  w.set_string_array("tokenizer.ggml.merges", std::move(merges));

  // Special tokens: tokenizer_config.json names them by text; config.json ids fill the gaps.
  json cfg = json::object(), model_cfg = json::object();
  if (const fs::path p = fs::path(dir) / "tokenizer_config.json"; fs::exists(p)) cfg = read_json_file(p.string());
  if (const fs::path p = fs::path(dir) / "config.json"; fs::exists(p)) model_cfg = read_json_file(p.string());
  const auto id_of = [&](const std::string& text) -> int64_t {
    for (const auto& [id, t] : by_id)
      if (t == text) return id;
    return -1;
  };
  for (const auto& [name, key] : {std::pair{"bos", "tokenizer.ggml.bos_token_id"},
                                  std::pair{"eos", "tokenizer.ggml.eos_token_id"},
                                  std::pair{"unk", "tokenizer.ggml.unknown_token_id"},
                                  std::pair{"pad", "tokenizer.ggml.padding_token_id"}}) {
    int64_t id = -1;
    if (cfg.is_object() && cfg.contains(std::string(name) + "_token"))
      if (const std::string text = token_content(cfg[std::string(name) + "_token"]); !text.empty()) id = id_of(text);
    const std::string cfg_key = std::string(name) + "_token_id";
    if (id < 0 && model_cfg.is_object() && model_cfg.contains(cfg_key)) {
      const json& v = model_cfg[cfg_key];
      const json& first = v.is_array() && !v.empty() ? v[0] : v;
      if (first.is_number_integer()) id = first.get<int64_t>();
    }
    if (id >= 0 && id < n) w.set_u32(key, static_cast<uint32_t>(id));
  }
  if (cfg.is_object()) {
    for (const auto& [name, key] : {std::pair{"add_bos_token", "tokenizer.ggml.add_bos_token"},
                                    std::pair{"add_eos_token", "tokenizer.ggml.add_eos_token"}})
      if (cfg.contains(name) && cfg[name].is_boolean()) w.set_bool(key, cfg[name].get<bool>());
    if (cfg.contains("chat_template")) {
      const json& t = cfg["chat_template"];
      if (t.is_string()) {
        w.set_string("tokenizer.chat_template", t.get<std::string>());
      } else if (t.is_array()) {  // [{"name", "template"}]: the default one
        for (const json& e : t)
          if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
            w.set_string("tokenizer.chat_template", e["template"].get<std::string>());
      }
    }
  }
  // Newer exports keep the template in its own file.
  if (const fs::path p = fs::path(dir) / "chat_template.jinja"; fs::exists(p) && !cfg.contains("chat_template")) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    w.set_string("tokenizer.chat_template", ss.str());
  }
}

}  // namespace

void tokenizer_json_to_gguf(const std::string& dir, int64_t n_vocab, GgufWriter& w) {
  const std::string path = (std::filesystem::path(dir) / "tokenizer.json").string();
  try {
    convert(dir, path, n_vocab, w);
  } catch (const json::exception& e) {  // a JSON value of the wrong kind
    fail("{}: malformed tokenizer files: {}", path, e.what());
  }
}

}  // namespace edgerag
