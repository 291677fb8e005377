// edgerag ask: answer a question from an index with cited sources, generated
// by a local LLM (-m) or, without one, extracted from the retrieved chunks.
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "backend_flag.h"
#include "command.h"
#include "device_flag.h"
#include "rag/answer.h"
#include "rag/search_json.h"
#include "kv_reuse_flag.h"
#include "kv_type_flag.h"
#include "spec_flag.h"
#include "tokenizer/tokenizer.h"

namespace edgerag::cli {
namespace {

struct AskArgs {
  rag::AnswerModels models;
  std::string llm, embed, rerank, config;
  std::vector<std::string> question;
  bool json = false;
  bool dump_prompt = false;
  // Overrides of the config file; unset ones keep the file's (or default) value.
  std::optional<int> bm25_depth, dense_depth, rrf_k, rerank_top, max_chunks, max_prompt_tokens, max_answer_tokens,
      sentences;
  std::optional<std::string> rerank_mode, system, hyde, context, route_mode;
  std::optional<double> min_confidence;
  std::string route;  // small=MODEL,large=MODEL
  std::optional<float> temperature, top_p;
  std::optional<uint64_t> seed;
  bool bm25_only = false;
  std::shared_ptr<SpecFlags> spec;
  std::shared_ptr<BackendFlags> backend;
  KvReuseFlags kv;
  int kv_flags = 0;  // how many of the KV reuse flags were given (they override the config file)
};

rag::AnswerConfig make_config(const AskArgs& a) {
  rag::AnswerConfig c = a.config.empty() ? rag::AnswerConfig{} : rag::load_answer_config(a.config);
  auto set = [](auto& field, const auto& flag) {
    if (flag) field = *flag;
  };
  set(c.bm25_depth, a.bm25_depth);
  set(c.dense_depth, a.dense_depth);
  set(c.rrf_k, a.rrf_k);
  set(c.rerank_top, a.rerank_top);
  set(c.max_chunks, a.max_chunks);
  set(c.max_prompt_tokens, a.max_prompt_tokens);
  set(c.max_answer_tokens, a.max_answer_tokens);
  set(c.extract_sentences, a.sentences);
  set(c.system_prompt, a.system);
  set(c.temperature, a.temperature);
  set(c.top_p, a.top_p);
  set(c.seed, a.seed);
  if (a.rerank_mode) c.rerank = rag::parse_rerank_mode(*a.rerank_mode);
  if (a.bm25_only) c.hybrid = false;
  if (a.hyde) c.adaptive.hyde = rag::parse_stage_mode(*a.hyde, "--hyde");
  if (a.context) c.adaptive.context = rag::parse_stage_mode(*a.context, "--context");
  set(c.adaptive.route, a.route_mode);
  set(c.adaptive.min_confidence, a.min_confidence);
  if (a.kv_flags > 0) c.kv_reuse = a.kv.reuse;
  c.validate();
  return c;
}

std::string one_line(std::string s, size_t max) {
  for (char& ch : s)
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  return s.size() > max ? s.substr(0, max) + "..." : s;
}

void print_text(const rag::Answer& ans) {
  std::printf("%s\n", ans.text.c_str());
  if (!ans.citations.empty()) std::printf("\nSources:\n");
  for (const auto& c : ans.citations) {
    const auto& p = c.chunk.provenance;
    std::string where = p.path;
    if (p.page > 0) where += fmt::format(", p. {}", p.page);
    if (p.row_begin >= 0) where += fmt::format(", rows {}-{}", p.row_begin, p.row_end);
    where += fmt::format(", bytes {}-{}", p.byte_begin, p.byte_end);
    std::printf("  [%d] %s\n", c.n, where.c_str());
    if (!p.headings.empty()) std::printf("      %s\n", p.headings.c_str());
    std::printf("      \"%s\"\n", one_line(c.chunk.text, 160).c_str());
  }
  if (ans.removed_citations > 0)
    std::printf("(%d citation%s to no supplied passage removed)\n", ans.removed_citations,
                ans.removed_citations == 1 ? "" : "s");
  const auto& t = ans.timings;
  std::printf("\n%s answer from %zu chunks%s | ms: embed %.1f, search %.1f, rerank %.1f, hyde %.1f, prompt %.1f, "
              "prefill %.1f, decode %.1f, extract %.1f, total %.1f | tokens: prompt %d, context %d, answer %d | "
              "confidence %.2f\n",
              ans.mode.c_str(), ans.context.size(), ans.reranked ? " (reranked)" : "", t.embed, t.search, t.rerank,
              t.hyde, t.prompt, t.prefill, t.decode, t.extract, t.total, ans.tokens.prompt, ans.tokens.context,
              ans.tokens.answer, ans.confidence.confidence);
  for (const auto& s : ans.adaptive)
    std::printf("  %s: %s (%s) %.1f ms, %.3f J\n", s.stage.c_str(), s.decision.c_str(), s.reason.c_str(), s.ms,
                s.joules);
}

void run(AskArgs& a) {
  rag::AnswerConfig cfg = make_config(a);  // config errors before any model loads
  const rag::RouteModels route = a.route.empty() ? rag::RouteModels{} : rag::parse_route_models(a.route);
  if (!route.large.empty()) a.llm = route.large;
  a.models.llm = a.llm.empty() ? "" : resolve_model_flag(a.llm);
  a.models.llm_small = route.small.empty() ? "" : resolve_model_flag(route.small);
  a.models.embed = a.embed.empty() ? "" : resolve_model_flag(a.embed);
  a.models.rerank = a.rerank.empty() ? "" : resolve_model_flag(a.rerank);
  a.models.spec = a.spec->options();
  if (a.backend->remote()) {
    a.models.llm_backend = a.backend->connect(a.models.llm, a.models.n_ctx);
    a.models.llm.clear();  // the GGUF named only the tokenizer
  }
  a.models.embedder = a.backend->embedder(a.models.embed);
  a.models.reranker = a.backend->reranker(a.models.rerank);
  a.models.kv_store = std::make_shared<ChunkKvStore>(a.kv.store.options());
  auto engine = rag::AnswerEngine::open(a.models);
  std::string q;
  for (const auto& w : a.question) q += (q.empty() ? "" : " ") + w;
  rag::Answer ans = engine->answer(q, cfg);
  const Tokenizer* tok = engine->llm_tokenizer();
  if (a.json) {
    auto j = rag::to_json(ans);
    j["question"] = q;
    if (a.dump_prompt && tok) j.update(rag::prompt_tokens_json(ans.prompt_ids, *tok));
    std::printf("%s\n", rag::json_text(j).c_str());
  } else {
    if (a.dump_prompt && tok) {
      std::printf("Prompt (%zu tokens, control tokens in [[ ]]):\n", ans.prompt_ids.size());
      for (int32_t id : ans.prompt_ids)
        std::printf(tok->is_control(id) ? "[[%s]]" : "%s", tok->token_to_piece(id).c_str());
      std::printf("\n\n");
    }
    print_text(ans);
  }
}

void setup(CLI::App& app) {
  auto a = std::make_shared<AskArgs>();
  auto* cmd = app.add_subcommand("ask", "Answer a question from an index, citing the sources");
  cmd->add_option("question", a->question, "The question")->required();
  cmd->add_option("--index", a->models.index_dir, "Index folder")->required();
  cmd->add_option("-m,--model", a->llm, "LLM (GGUF decoder); without one the answer is extractive");
  cmd->add_option("--embed", a->embed, "Embedding model (default: the one recorded in the index, if present)");
  cmd->add_option("--rerank", a->rerank, "Cross-encoder reranker model");
  cmd->add_option("--config", a->config, "TOML file with retrieval / prompt / generation settings");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  cmd->add_flag("--dump-prompt", a->dump_prompt,
                "Show the prompt's tokens (JSON: prompt_ids, prompt_pieces): only the chat template's control tokens "
                "are control tokens");
  cmd->add_option("-t,--threads", a->models.n_threads, "Threads for the LLM (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx", a->models.n_ctx, "LLM context size in tokens (0 = model's, at most 4096)")
      ->check(CLI::Range(0, 1 << 24));
  add_kv_type_option(cmd, &a->models.kv_type);
  a->spec = add_speculative_options(cmd);
  a->backend = add_backend_options(cmd, true);
  add_device_options(cmd);
  auto* g = "Overrides of the config file";
  cmd->add_flag("--bm25-only", a->bm25_only, "BM25 retrieval even with an embedder")->group(g);
  cmd->add_option("--bm25-depth", a->bm25_depth, "BM25 candidates before fusion")->group(g);
  cmd->add_option("--dense-depth", a->dense_depth, "Dense candidates before fusion")->group(g);
  cmd->add_option("--rrf-k", a->rrf_k, "Reciprocal rank fusion constant")->group(g);
  cmd->add_option("--rerank-mode", a->rerank_mode, "on, off or auto (skip when BM25 and dense agree)")
      ->check(CLI::IsMember({"on", "off", "auto", "conditional"}))->group(g);
  cmd->add_option("--rerank-top", a->rerank_top, "Fused candidates the reranker rescores")->group(g);
  cmd->add_option("--max-chunks", a->max_chunks, "Chunks in the prompt")->group(g);
  cmd->add_option("--max-prompt-tokens", a->max_prompt_tokens, "Prompt token budget")->group(g);
  cmd->add_option("--max-answer-tokens", a->max_answer_tokens, "Answer token limit")->group(g);
  cmd->add_option("--system", a->system, "System prompt")->group(g);
  cmd->add_option("--temp,--temperature", a->temperature, "Sampling temperature (0 = greedy)")->group(g);
  cmd->add_option("--top-p", a->top_p, "Top-p (1 = off)")->group(g);
  cmd->add_option("--seed", a->seed, "Sampling seed")->group(g);
  cmd->add_option("--sentences", a->sentences, "Sentences in an extractive answer")->group(g);
  const auto* ad = "Query-adaptive stages (docs/QUALITY.md)";
  cmd->add_option("--hyde", a->hyde, "HyDE: search also with a hypothetical answer passage: off, on or auto")
      ->check(CLI::IsMember({"off", "on", "auto"}))->group(ad);
  cmd->add_option("--route", a->route, "small=MODEL,large=MODEL: easy questions to the small LLM (large replaces -m)")
      ->group(ad);
  cmd->add_option("--route-mode", a->route_mode, "auto (by difficulty), small, large or off")
      ->check(CLI::IsMember({"off", "auto", "small", "large"}))->group(ad);
  cmd->add_option("--context", a->context, "fixed, or auto: fewer chunks for easy questions")
      ->check(CLI::IsMember({"fixed", "auto", "on"}))->group(ad);
  cmd->add_option("--min-confidence", a->min_confidence, "Abstain below this answer confidence (0..1)")
      ->check(CLI::Range(0.0, 1.0))->group(ad);
  add_kv_reuse_options(cmd, &a->kv);
  cmd->callback([a, cmd] {
    for (const char* f : {"--kv-reuse", "--recompute-share", "--recompute-first"}) a->kv_flags += cmd->count(f) > 0;
    run(*a);
  });
}

}  // namespace
EDGERAG_COMMAND("ask", setup);
}  // namespace edgerag::cli
