#include "rag/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <variant>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "util/error.h"

namespace edgerag::rag {

RerankMode parse_rerank_mode(std::string_view s) {
  if (s == "on" || s == "true") return RerankMode::On;
  if (s == "off" || s == "false") return RerankMode::Off;
  if (s == "auto" || s == "conditional") return RerankMode::Auto;
  fail("rerank: expected \"on\", \"off\" or \"auto\", got \"{}\"", s);
}

const char* rerank_mode_name(RerankMode m) {
  switch (m) {
    case RerankMode::On: return "on";
    case RerankMode::Off: return "off";
    case RerankMode::Auto: return "auto";
  }
  return "?";
}

StageMode parse_stage_mode(std::string_view s, std::string_view setting) {
  if (s == "on") return StageMode::On;
  if (s == "off" || s == "fixed") return StageMode::Off;
  if (s == "auto") return StageMode::Auto;
  fail("{}: expected \"off\", \"on\" or \"auto\", got \"{}\"", setting, s);
}

const char* stage_mode_name(StageMode m) {
  switch (m) {
    case StageMode::On: return "on";
    case StageMode::Off: return "off";
    case StageMode::Auto: return "auto";
  }
  return "?";
}

std::string AnswerConfig::default_system_prompt() {
  return "You answer questions using only the numbered context passages. "
         "Cite the passages that support each statement with their numbers in brackets, like [1] or [2]. "
         "If the context does not contain the answer, say that you do not know.";
}

void AnswerConfig::validate() const {
  auto positive = [](const char* name, long long v, long long max) {
    EDGERAG_CHECK(v >= 1 && v <= max, "{}: expected 1..{}, got {}", name, max, v);
  };
  positive("retrieval.bm25_depth", bm25_depth, 10000);
  positive("retrieval.dense_depth", dense_depth, 10000);
  positive("retrieval.rrf_k", rrf_k, 100000);
  positive("retrieval.rerank_top", rerank_top, 1000);
  positive("retrieval.ef_search", ef_search, 10000);
  EDGERAG_CHECK(rescore_depth >= 0 && rescore_depth <= 10000, "retrieval.rescore_depth: expected 0..10000, got {}",
                rescore_depth);
  positive("prompt.max_chunks", max_chunks, 256);
  positive("prompt.max_tokens", max_prompt_tokens, 1 << 20);
  positive("generation.max_tokens", max_answer_tokens, 1 << 20);
  positive("extractive.sentences", extract_sentences, 100);
  EDGERAG_CHECK(std::isfinite(kv_reuse.recompute_share), "prompt.recompute_share: expected 0..1");
  check_kv_reuse(kv_reuse);
  EDGERAG_CHECK(std::isfinite(rerank_skip_agreement) && rerank_skip_agreement >= 0 && rerank_skip_agreement <= 1,
                "retrieval.rerank_skip_agreement: expected 0..1, got {}", rerank_skip_agreement);
  const AdaptiveConfig& ad = adaptive;
  auto unit = [](const char* name, double v) {
    EDGERAG_CHECK(std::isfinite(v) && v >= 0 && v <= 1, "{}: expected 0..1, got {}", name, v);
  };
  unit("adaptive.hyde_threshold", ad.hyde_threshold);
  unit("adaptive.hyde_question_weight", ad.hyde_question_weight);
  unit("adaptive.route_threshold", ad.route_threshold);
  unit("adaptive.context_threshold", ad.context_threshold);
  unit("adaptive.min_confidence", ad.min_confidence);
  unit("adaptive.cache_similarity", ad.cache_similarity);
  positive("adaptive.hyde_max_tokens", ad.hyde_max_tokens, 4096);
  EDGERAG_CHECK(ad.easy_chunks >= 0 && ad.easy_chunks <= 256, "adaptive.easy_chunks: expected 0..256, got {}",
                ad.easy_chunks);
  EDGERAG_CHECK(ad.route == "off" || ad.route == "auto" || ad.route == "small" || ad.route == "large",
                "adaptive.route: expected \"off\", \"auto\", \"small\" or \"large\", got \"{}\"", ad.route);
  EDGERAG_CHECK(std::isfinite(ad.watts) && ad.watts >= 0 && ad.watts <= 10000, "adaptive.watts: expected 0..10000, got {}",
                ad.watts);
  EDGERAG_CHECK(index.hnsw_m >= 2 && index.hnsw_m <= 256, "index.hnsw_m: expected 2..256, got {}", index.hnsw_m);
  EDGERAG_CHECK(index.ef_construction >= 4 && index.ef_construction <= 4096,
                "index.ef_construction: expected 4..4096, got {}", index.ef_construction);
  EDGERAG_CHECK(index.exact_below >= 0, "index.exact_below: expected 0 or more, got {}", index.exact_below);
  EDGERAG_CHECK(index.vectors == "f32" || index.vectors == "int8", "index.vectors: expected \"f32\" or \"int8\", got \"{}\"",
                index.vectors);
  EDGERAG_CHECK(std::isfinite(temperature) && temperature >= 0 && temperature <= 10,
                "generation.temperature: expected 0..10, got {}", temperature);
  EDGERAG_CHECK(std::isfinite(top_p) && top_p > 0 && top_p <= 1, "generation.top_p: expected (0, 1], got {}", top_p);
}

namespace {

// A setting's value as read from TOML or JSON; both readers go through
// set_value() so they accept exactly the same names and types.
using Value = std::variant<int64_t, double, bool, std::string>;

int as_int(const Value& v, const std::string& name) {
  const int64_t* i = std::get_if<int64_t>(&v);
  EDGERAG_CHECK(i, "{} must be an integer", name);
  EDGERAG_CHECK(*i >= std::numeric_limits<int>::min() && *i <= std::numeric_limits<int>::max(),
                "{}: {} is out of range", name, *i);
  return static_cast<int>(*i);
}
double as_number(const Value& v, const std::string& name) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  const double* d = std::get_if<double>(&v);
  EDGERAG_CHECK(d, "{} must be a number", name);
  return *d;
}
bool as_bool(const Value& v, const std::string& name) {
  const bool* b = std::get_if<bool>(&v);
  EDGERAG_CHECK(b, "{} must be true or false", name);
  return *b;
}
const std::string& as_string(const Value& v, const std::string& name) {
  const std::string* s = std::get_if<std::string>(&v);
  EDGERAG_CHECK(s, "{} must be a string", name);
  return *s;
}

void set_adaptive(AdaptiveConfig& c, std::string_view key, const Value& v, const std::string& name) {
  if (key == "hyde") c.hyde = parse_stage_mode(as_string(v, name), name);
  else if (key == "hyde_threshold") c.hyde_threshold = as_number(v, name);
  else if (key == "hyde_max_tokens") c.hyde_max_tokens = as_int(v, name);
  else if (key == "hyde_question_weight") c.hyde_question_weight = as_number(v, name);
  else if (key == "route") c.route = as_string(v, name);
  else if (key == "route_threshold") c.route_threshold = as_number(v, name);
  else if (key == "context") c.context = parse_stage_mode(as_string(v, name), name);
  else if (key == "easy_chunks") c.easy_chunks = as_int(v, name);
  else if (key == "context_threshold") c.context_threshold = as_number(v, name);
  else if (key == "min_confidence") c.min_confidence = as_number(v, name);
  else if (key == "cache") c.cache = as_bool(v, name);
  else if (key == "cache_similarity") c.cache_similarity = as_number(v, name);
  else if (key == "watts") c.watts = as_number(v, name);
  else fail("unknown setting {}", name);
}

void set_value(AnswerConfig& c, std::string_view section, std::string_view key, const Value& v) {
  const std::string name = fmt::format("{}.{}", section, key);
  auto is = [&](const char* s, const char* k) { return section == s && key == k; };
  if (is("retrieval", "bm25_depth")) c.bm25_depth = as_int(v, name);
  else if (is("retrieval", "dense_depth")) c.dense_depth = as_int(v, name);
  else if (is("retrieval", "rrf_k")) c.rrf_k = as_int(v, name);
  else if (is("retrieval", "hybrid")) c.hybrid = as_bool(v, name);
  else if (is("retrieval", "rerank")) c.rerank = parse_rerank_mode(as_string(v, name));
  else if (is("retrieval", "rerank_top")) c.rerank_top = as_int(v, name);
  else if (is("retrieval", "ef_search")) c.ef_search = as_int(v, name);
  else if (is("retrieval", "rescore_depth")) c.rescore_depth = as_int(v, name);
  else if (is("retrieval", "rerank_skip_agreement")) c.rerank_skip_agreement = as_number(v, name);
  else if (is("prompt", "max_chunks")) c.max_chunks = as_int(v, name);
  else if (is("prompt", "max_tokens")) c.max_prompt_tokens = as_int(v, name);
  else if (is("prompt", "system")) c.system_prompt = as_string(v, name);
  else if (is("prompt", "kv_reuse")) c.kv_reuse.mode = kv_reuse_from_name(as_string(v, name));
  else if (is("prompt", "recompute_share")) c.kv_reuse.recompute_share = as_number(v, name);
  else if (is("prompt", "recompute_first")) c.kv_reuse.recompute_first = as_int(v, name);
  else if (is("generation", "max_tokens")) c.max_answer_tokens = as_int(v, name);
  else if (is("generation", "temperature")) c.temperature = static_cast<float>(as_number(v, name));
  else if (is("generation", "top_p")) c.top_p = static_cast<float>(as_number(v, name));
  else if (is("generation", "seed")) {
    int64_t s = std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : -1;
    EDGERAG_CHECK(s >= 0, "{} must be a non-negative integer", name);
    c.seed = static_cast<uint64_t>(s);
  } else if (is("extractive", "sentences")) c.extract_sentences = as_int(v, name);
  else if (section == "adaptive") set_adaptive(c.adaptive, key, v, name);
  else if (is("index", "hnsw_m")) c.index.hnsw_m = as_int(v, name);
  else if (is("index", "ef_construction")) c.index.ef_construction = as_int(v, name);
  else if (is("index", "exact_below")) c.index.exact_below = as_int(v, name);
  else if (is("index", "vectors")) c.index.vectors = as_string(v, name);
  else fail("unknown setting {}", name);
}

std::optional<Value> toml_value(const toml::node& n) {
  if (auto i = n.value_exact<int64_t>()) return *i;
  if (auto d = n.value_exact<double>()) return *d;
  if (auto b = n.value_exact<bool>()) return *b;
  if (auto s = n.value_exact<std::string>()) return *s;
  return std::nullopt;
}

std::optional<Value> json_value(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_string()) return j.get<std::string>();
  return std::nullopt;
}

std::string where(const toml::source_region& r, const std::string& source) {
  return fmt::format("{}:{}:{}", source, r.begin.line, r.begin.column);
}

}  // namespace

void apply_toml(AnswerConfig& cfg, std::string_view toml_text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    fail("{}: invalid TOML: {}", where(e.source(), source), e.description());
  }
  for (const auto& [section, node] : root) {
    const toml::table* t = node.as_table();
    EDGERAG_CHECK(t, "{}: {} must be a [section] (retrieval, prompt, generation, extractive, adaptive, index)",
                  where(node.source(), source), section.str());
    for (const auto& [key, value] : *t) {
      std::string at = where(value.source(), source);
      auto v = toml_value(value);
      EDGERAG_CHECK(v, "{}: {}.{} must be a number, boolean or string", at, section.str(), key.str());
      try {
        set_value(cfg, section.str(), key.str(), *v);
      } catch (const Error& e) {
        fail("{}: {}", at, e.what());
      }
    }
  }
  try {
    cfg.validate();
  } catch (const Error& e) {
    fail("{}: {}", source, e.what());
  }
}

AnswerConfig load_answer_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EDGERAG_CHECK(in, "{}: cannot open config file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  AnswerConfig cfg;
  apply_toml(cfg, ss.str(), path);
  return cfg;
}

void apply_json(AnswerConfig& cfg, const nlohmann::json& j) {
  EDGERAG_CHECK(j.is_object(), "config: expected an object of sections");
  for (const auto& [section, body] : j.items()) {
    EDGERAG_CHECK(body.is_object(), "config: \"{}\" must be an object (retrieval, prompt, generation, extractive, adaptive, index)",
                  section);
    for (const auto& [key, value] : body.items()) {
      auto v = json_value(value);
      EDGERAG_CHECK(v, "config: {}.{} must be a number, boolean or string", section, key);
      try {
        set_value(cfg, section, key, *v);
      } catch (const Error& e) {
        fail("config: {}", e.what());
      }
    }
  }
  cfg.validate();
}

nlohmann::json to_json(const AnswerConfig& c) {
  return {
      {"retrieval",
       {{"bm25_depth", c.bm25_depth},
        {"dense_depth", c.dense_depth},
        {"rrf_k", c.rrf_k},
        {"hybrid", c.hybrid},
        {"rerank", rerank_mode_name(c.rerank)},
        {"rerank_top", c.rerank_top},
        {"rerank_skip_agreement", c.rerank_skip_agreement},
        {"ef_search", c.ef_search},
        {"rescore_depth", c.rescore_depth}}},
      {"prompt",
       {{"max_chunks", c.max_chunks},
        {"max_tokens", c.max_prompt_tokens},
        {"system", c.system_prompt},
        {"kv_reuse", kv_reuse_name(c.kv_reuse.mode)},
        {"recompute_share", c.kv_reuse.recompute_share},
        {"recompute_first", c.kv_reuse.recompute_first}}},
      {"generation",
       {{"max_tokens", c.max_answer_tokens}, {"temperature", c.temperature}, {"top_p", c.top_p}, {"seed", c.seed}}},
      {"extractive", {{"sentences", c.extract_sentences}}},
      {"adaptive",
       {{"hyde", stage_mode_name(c.adaptive.hyde)},
        {"hyde_threshold", c.adaptive.hyde_threshold},
        {"hyde_max_tokens", c.adaptive.hyde_max_tokens},
        {"hyde_question_weight", c.adaptive.hyde_question_weight},
        {"route", c.adaptive.route},
        {"route_threshold", c.adaptive.route_threshold},
        {"context", c.adaptive.context == StageMode::Off ? "fixed" : stage_mode_name(c.adaptive.context)},
        {"easy_chunks", c.adaptive.easy_chunks},
        {"context_threshold", c.adaptive.context_threshold},
        {"min_confidence", c.adaptive.min_confidence},
        {"cache", c.adaptive.cache},
        {"cache_similarity", c.adaptive.cache_similarity},
        {"watts", c.adaptive.watts}}},
      {"index",
       {{"hnsw_m", c.index.hnsw_m},
        {"ef_construction", c.index.ef_construction},
        {"exact_below", c.index.exact_below},
        {"vectors", c.index.vectors}}},
  };
}

}  // namespace edgerag::rag
