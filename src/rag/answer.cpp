#include "rag/answer.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "rag/answer_cache.h"
#include "rag/citation.h"
#include "rag/extract.h"
#include "rag/index.h"
#include "rag/prompt.h"
#include "runtime/chat_template.h"
#include "runtime/local_llm.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timer.h"

namespace edgerag::rag {

namespace {

// Drives a backend's stream to its end; `on_piece` returning false cancels it.
// Speculation is the backend's default; chunk KV reuse is local only (a remote
// backend ignores `chunks`).
GeneratedText run_stream(LlmBackend& llm, const LlmPrompt& prompt, const GenerationParams& gp,
                         const AnswerEngine::TokenCallback& on_piece, std::vector<ChunkSpan> chunks = {},
                         const KvReuseOptions& kv_reuse = {}) {
  auto stream = llm.start(prompt, {.max_tokens = gp.max_tokens,
                                   .sampling = gp.sampling,
                                   .stop = gp.stop,
                                   .spec = {},
                                   .chunks = std::move(chunks),
                                   .kv_reuse = kv_reuse});
  std::string text, piece;
  bool cancelled = false;
  for (;;) {
    const auto n = stream->next(piece, 1000);
    if (n == LlmStream::Next::Done) break;
    if (n != LlmStream::Next::Piece) continue;
    text += piece;
    if (on_piece && !cancelled && !on_piece(piece)) {
      stream->cancel();
      cancelled = true;
    }
  }
  const LlmResult& r = stream->result();
  EDGERAG_CHECK(r.finish_reason != "error", "generation failed: {}", r.error);
  return rag::generated_text(std::move(text), r);
}

}  // namespace

struct AnswerEngine::Impl {
  std::unique_ptr<Index> index;
  std::shared_ptr<Embedder> embedder;
  bool dense = false;  // the index has vectors from `embedder`: hybrid retrieval
  std::shared_ptr<Reranker> reranker;
  std::shared_ptr<AnswerCache> cache;
  std::shared_ptr<ChunkKvStore> kv_store;  // the local LLMs' chunk KV
  // The LLM (AnswerModels::llm_backend, or the local model: a LocalLlm) and its
  // prompt target; null in extractive mode.
  std::shared_ptr<LlmBackend> backend;
  std::optional<PromptTarget> backend_target;
  std::unique_ptr<LlmBackend> small;  // the routing target for easy questions; may be null
  std::optional<PromptTarget> small_target;

  // Accumulates its timings into `a`. `query_vector`: the question's embedding
  // from an earlier search; `hyde_vector`: HyDE's passage embedding.
  SearchResponse retrieve(const std::string& question, const AnswerConfig& cfg, const QueryBounds& bounds, Answer& a,
                          bool rerank, std::vector<float> query_vector = {}, std::vector<float> hyde_vector = {});
  // Writes HyDE's passage with `llm`, embeds it and searches again with it.
  SearchResponse hyde_search(const std::string& question, const AnswerConfig& cfg, const QueryBounds& bounds,
                             const PromptTarget& llm, const SearchResponse& first, Answer& a);
  void extract(const std::string& question, const AnswerConfig& cfg, const std::vector<SearchHit>& hits, Answer& a);
  std::string cache_scope(const AnswerConfig& cfg, const QueryBounds& bounds, bool generative);
};

AnswerEngine::AnswerEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AnswerEngine::~AnswerEngine() = default;
bool AnswerEngine::has_llm() const { return impl_->backend != nullptr; }
LlmTargets AnswerEngine::llms() const {
  return {impl_->backend_target ? &*impl_->backend_target : nullptr,
          impl_->small_target ? &*impl_->small_target : nullptr};
}
bool AnswerEngine::has_embedder() const { return impl_->embedder != nullptr; }
bool AnswerEngine::has_reranker() const { return impl_->reranker != nullptr; }
const Tokenizer* AnswerEngine::llm_tokenizer() const {
  return impl_->backend ? impl_->backend->tokenizer() : nullptr;
}

PromptTarget PromptTarget::of(const Tokenizer& tok, ChatFormat chat, int n_ctx) {
  return {chat, [&tok](const std::vector<PromptPart>& parts) { return tok.encode_parts(parts, true); }, n_ctx};
}

PromptTarget PromptTarget::of(LlmBackend& llm) {
  return {llm.chat_format(), [&llm](const std::vector<PromptPart>& parts) { return llm.tokenize(parts); }, llm.n_ctx(),
          [&llm](const LlmPrompt& prompt, const GenerationParams& gp) { return run_stream(llm, prompt, gp, {}); },
          llm.tokenizer()};
}

GeneratedText generated_text(std::string text, const LlmResult& r) {
  return {.text = std::move(text),
          .stop_reason = r.finish_reason,
          .n_prompt = r.n_prompt,
          .n_answer = r.n_generated,
          .n_drafted = r.n_drafted,
          .n_accepted = r.n_accepted,
          .queue_ms = r.queue_ms,
          .prefill_ms = r.ttft_ms - r.queue_ms,
          .decode_ms = r.total_ms - r.ttft_ms,
          .token_p = r.token_p,
          .kv_reuse = r.kv_reuse};
}

nlohmann::json prompt_tokens_json(const std::vector<int32_t>& ids, const Tokenizer& tok) {
  nlohmann::json pieces = nlohmann::json::array();
  for (int32_t id : ids) pieces.push_back(tok.token_to_piece(id));
  return {{"prompt_ids", ids}, {"prompt_pieces", std::move(pieces)}};
}

std::unique_ptr<AnswerEngine> AnswerEngine::open(const AnswerModels& models) {
  EDGERAG_CHECK(!models.index_dir.empty(), "answer: no index folder given");
  auto impl = std::make_unique<Impl>();
  impl->index = Index::open(models.index_dir);
  std::string embed = models.embed;
  const std::string recorded = impl->index->recorded_embedder();
  if (embed.empty()) {
    // Dense retrieval by default when the index has vectors and their model is here.
    std::error_code ec;
    if (!recorded.empty() && std::filesystem::is_regular_file(recorded, ec))
      embed = recorded;
    else if (!recorded.empty())
      log(LogLevel::Warn, "index {} was embedded with {}, which is not here: BM25-only retrieval", models.index_dir,
          recorded);
  }
  if (models.embedder || !embed.empty()) {
    impl->embedder = models.embedder ? models.embedder : load_embedder(embed);
    if (recorded.empty()) {
      // Still useful for scoring sentences in extractive answers.
      log(LogLevel::Warn, "index {} has no dense vectors: BM25-only retrieval", models.index_dir);
    } else {
      impl->index->set_embedder(impl->embedder);  // throws if it is not the model that built the vectors
      impl->dense = true;
    }
  }
  if (models.reranker || !models.rerank.empty()) {
    impl->reranker = models.reranker ? models.reranker : load_reranker(models.rerank);
    impl->index->set_reranker(impl->reranker);
  }
  EDGERAG_CHECK(models.llm_small.empty() || !models.llm.empty(), "answer: a small model for routing needs an LLM");
  EDGERAG_CHECK(!models.llm_backend || (models.llm.empty() && models.llm_small.empty()),
                "answer: an LLM backend replaces the local LLMs");
  if (models.llm_backend) {
    impl->backend = models.llm_backend;
  } else if (!models.llm.empty()) {
    impl->kv_store = models.kv_store ? models.kv_store : std::make_shared<ChunkKvStore>(ChunkKvStoreOptions{});
    // One question at a time: one sequence's KV pool (kv_tokens 0) in which
    // prompts, answers, drafts and chunk KV reuse all live; prompts prefill in
    // one slice as far as the step allows.
    const LlmOptions lo{.kv_tokens = 0,
                        .n_ctx = models.n_ctx,
                        .kv_type = models.kv_type,
                        .n_threads = models.n_threads,
                        .scheduler = {.max_running = 1, .step_tokens = 512, .prefill_chunk = 512},
                        .spec = models.spec,
                        .kv_store = impl->kv_store};
    impl->backend = LocalLlm::load(models.llm, lo);
    if (!models.llm_small.empty()) impl->small = LocalLlm::load(models.llm_small, lo);
  }
  if (impl->backend) impl->backend_target = PromptTarget::of(*impl->backend);
  if (impl->small) impl->small_target = PromptTarget::of(*impl->small);
  impl->cache = models.cache;
  return std::unique_ptr<AnswerEngine>(new AnswerEngine(std::move(impl)));
}

SearchResponse AnswerEngine::Impl::retrieve(const std::string& question, const AnswerConfig& cfg,
                                            const QueryBounds& bounds, Answer& a, bool rerank,
                                            std::vector<float> query_vector, std::vector<float> hyde_vector) {
  SearchOptions so;
  so.deadline = bounds.deadline;
  so.filter.collections = bounds.collections;
  so.filter.file_types = bounds.file_types;
  so.filter.path_prefix = bounds.path_prefix;
  so.mode = dense && cfg.hybrid ? SearchMode::Hybrid : SearchMode::Bm25;
  if (bounds.mode) {
    EDGERAG_CHECK(*bounds.mode == SearchMode::Bm25 || dense, "{} retrieval needs an index with dense vectors",
                  search_mode_name(*bounds.mode));
    so.mode = *bounds.mode;
  }
  so.k = static_cast<size_t>(cfg.max_chunks);
  so.bm25_depth = static_cast<size_t>(cfg.bm25_depth);
  so.dense_depth = static_cast<size_t>(cfg.dense_depth);
  so.rrf_k = cfg.rrf_k;
  so.rerank = rerank && reranker && cfg.rerank != RerankMode::Off;
  so.rerank_top = static_cast<size_t>(cfg.rerank_top);
  so.ef_search = static_cast<size_t>(cfg.ef_search);
  so.rescore_depth = static_cast<size_t>(cfg.rescore_depth);
  so.rerank_skip_agreement = cfg.rerank == RerankMode::On ? 2.0 : cfg.rerank_skip_agreement;  // > 1: never skip
  if (so.mode != SearchMode::Bm25) {
    so.query_vector = std::move(query_vector);
    so.hyde_vector = std::move(hyde_vector);
    so.hyde_question_weight = cfg.adaptive.hyde_question_weight;
  }
  // BM25 alone ranks better on the content words; dense retrieval (hybrid)
  // wants the question as asked.
  std::string query = question;
  if (so.mode == SearchMode::Bm25) {
    query.clear();
    for (const auto& t : question_terms(question)) query += (query.empty() ? "" : " ") + t;
    if (query.empty()) query = question;
  }
  SearchResponse r = index->search(query, so);
  const auto& t = r.timings;
  a.timings.embed += t.embed_ms;
  a.timings.rerank += t.rerank_ms;
  a.timings.search += std::max(0.0, t.total_ms - t.embed_ms - t.rerank_ms);
  a.reranked = r.reranked;
  return r;
}

SearchResponse AnswerEngine::Impl::hyde_search(const std::string& question, const AnswerConfig& cfg,
                                               const QueryBounds& bounds, const PromptTarget& llm,
                                               const SearchResponse& first, Answer& a) {
  Timer t;
  const std::vector<PromptPart> parts =
      render_chat(llm.chat, {{"system", hyde_system_prompt()}, {"user", hyde_user_message(question)}});
  const std::vector<int32_t> ids = llm.encode(parts);
  EDGERAG_CHECK(static_cast<int>(ids.size()) < llm.n_ctx, "answer: the HyDE prompt ({} tokens) does not fit the LLM context of {}",
                ids.size(), llm.n_ctx);
  GenerationParams gp;
  gp.max_tokens = std::min(cfg.adaptive.hyde_max_tokens, llm.n_ctx - static_cast<int>(ids.size()));
  gp.sampling.temperature = 0;
  gp.stop = {"\nQuestion:", "\n\n"};
  const GeneratedText g = llm.generate({.ids = ids, .text = prompt_text(parts)}, gp);
  const size_t b = g.text.find_first_not_of(" \t\r\n"), e = g.text.find_last_not_of(" \t\r\n");
  a.hyde_passage = b == std::string::npos ? "" : g.text.substr(b, e - b + 1);
  // An empty passage has nothing to search with; the passage embedder sees what a document would be.
  std::vector<std::vector<float>> v = embedder->embed({a.hyde_passage.empty() ? question : a.hyde_passage}, false);
  EDGERAG_CHECK(v.size() == 1, "embedder returned no vector for the HyDE passage");
  a.timings.hyde = t.ms();
  if (std::chrono::steady_clock::now() > bounds.deadline) throw DeadlineExceeded("answer: timed out in HyDE");
  return retrieve(question, cfg, bounds, a, true, first.query_vector, std::move(v[0]));
}

std::string AnswerEngine::Impl::cache_scope(const AnswerConfig& cfg, const QueryBounds& bounds, bool generative) {
  std::vector<std::string> colls = bounds.collections;
  std::sort(colls.begin(), colls.end());
  std::string scope = fmt::format("{}:", colls.size());
  for (const auto& c : colls) scope += fmt::format("{}:{}", c.size(), c);
  // The retriever and the filter asked for change the answer as the collections do.
  std::vector<std::string> types = bounds.file_types;
  std::sort(types.begin(), types.end());
  scope += fmt::format("|m{}|{}:", bounds.mode ? search_mode_name(*bounds.mode) : "", types.size());
  for (const auto& t : types) scope += fmt::format("{}:{}", t.size(), t);
  scope += fmt::format("|p{}:{}", bounds.path_prefix.size(), bounds.path_prefix);
  return scope + fmt::format("|v{}|{}|{}", index->data_version(colls), generative ? "generative" : "extractive",
                             to_json(cfg).dump());
}

namespace {

// Prompt and generation settings for a generative answer from `hits`.
void prepare_prompt(const std::string& question, const AnswerConfig& cfg, const std::vector<SearchHit>& hits,
                    const PromptTarget& llm, PreparedAnswer& p) {
  Timer t;
  // The prompt budget also has to leave room for the answer in the context.
  const int budget = std::min(cfg.max_prompt_tokens, llm.n_ctx - cfg.max_answer_tokens);
  EDGERAG_CHECK(budget > 0, "answer: {} answer tokens leave no room for a prompt in the LLM context of {}",
                cfg.max_answer_tokens, llm.n_ctx);
  const ChatRenderer render = chat_renderer(llm.chat);
  const bool reuse = cfg.kv_reuse.mode != KvReuse::Prefix && llm.tok;
  AssembledPrompt ap =
      assemble_prompt(hits, question, cfg.system_prompt, {cfg.max_chunks, budget}, render, llm.encode, reuse);
  Answer& a = p.answer;
  a.mode = "generative";
  a.context = std::move(ap.chunks);
  a.tokens.context = ap.n_context_tokens;
  a.timings.prompt = t.ms();
  p.prompt = std::move(ap.text);
  p.prompt_ids = std::move(ap.ids);
  p.kv_reuse = cfg.kv_reuse;
  if (reuse) {
    p.chunk_spans = locate_chunks(p.prompt_ids, a.context, *llm.tok);
    // Chunk KV is computed after the prefix all prompts share: what precedes the user message's text.
    p.kv_reuse.context_end = chunk_context_end(p.prompt_ids, cfg.system_prompt, question, render, llm.encode);
  }
  GenerationParams& gp = p.generation;
  gp.max_tokens = cfg.max_answer_tokens;
  gp.sampling.temperature = cfg.temperature;
  gp.sampling.top_p = cfg.top_p;
  gp.sampling.seed = cfg.seed;
  // Models without a chat template tend to go on with another turn.
  gp.stop = {"\nQuestion:", "\nUser:"};
}

// Trims the answer text and resolves its [n] markers to the supplied chunks.
void cite(Answer& a) {
  const size_t b = a.text.find_first_not_of(" \t\r\n"), e = a.text.find_last_not_of(" \t\r\n");
  a.text = b == std::string::npos ? "" : a.text.substr(b, e - b + 1);
  CitationCheck cc = check_citations(a.text, static_cast<int>(a.context.size()));
  a.text = cc.text;
  a.removed_citations = cc.removed;
  for (int n : cc.cited) a.citations.push_back({n, a.context[static_cast<size_t>(n - 1)]});
}

}  // namespace

void AnswerEngine::Impl::extract(const std::string& question, const AnswerConfig& cfg,
                                 const std::vector<SearchHit>& hits, Answer& a) {
  Timer t;
  a.mode = "extractive";
  a.context = select_chunks(hits, cfg.max_chunks);
  ExtractOptions eo;
  eo.max_sentences = cfg.extract_sentences;
  eo.rrf_k = cfg.rrf_k;
  a.text = extractive_answer_text(best_sentences(a.context, question, eo, cfg.hybrid ? embedder.get() : nullptr));
  a.timings.extract = t.ms();
}

namespace {

// Confidence, abstention below min_confidence, then the answer cache.
void conclude(PreparedAnswer& p, std::optional<double> token_p) {
  Answer& a = p.answer;
  a.confidence = answer_confidence(a.text, a.context, a.signals, token_p);
  const double min = p.adaptive.min_confidence;
  if (min > 0) {
    a.abstained = a.confidence.confidence < min;
    a.adaptive.push_back(adaptive_step(p.adaptive, "confidence", a.abstained ? "abstained" : "answered",
                                       fmt::format("confidence {:.3f} {} min_confidence {:.3f}", a.confidence.confidence,
                                                   a.abstained ? "<" : ">=", min)));
    if (a.abstained) {
      a.text = kAbstainText;
      a.citations.clear();
    }
  }
  a.timings.total = p.started.ms();
  if (p.cache) p.cache->put(p.cache_scope, p.cache_question, std::move(p.cache_vector), a);
}

}  // namespace

AdaptiveRetrieval AnswerEngine::retrieve(const std::string& question, const AnswerConfig& cfg, const LlmTargets& llms,
                                         const QueryBounds& bounds, Answer& a, std::vector<float> query_vector) {
  const AdaptiveConfig& ad = cfg.adaptive;
  // First stage. With HyDE possible, reranking waits until it is known which list set to rerank.
  const bool may_hyde = ad.hyde != StageMode::Off;
  SearchResponse r = impl_->retrieve(question, cfg, bounds, a, !may_hyde, std::move(query_vector));
  a.signals = query_signals(question, r);

  const StageDecision route = decide_route(ad, a.signals, llms.large && llms.small);
  const PromptTarget* llm = route.on ? llms.small : llms.large;
  if (llm) {
    a.model = route.on ? "small" : "large";
    a.adaptive.push_back(adaptive_step(ad, "route", a.model, route.reason));
  }

  const StageDecision hyde = decide_hyde(ad, a.signals, llm && llm->generate && impl_->dense && cfg.hybrid);
  if (hyde.on) {
    r = impl_->hyde_search(question, cfg, bounds, *llm, r, a);
    a.adaptive.push_back(adaptive_step(ad, "hyde", "on", hyde.reason, a.timings.hyde));
  } else {
    a.adaptive.push_back(adaptive_step(ad, "hyde", "off", hyde.reason));
    if (may_hyde && impl_->reranker && cfg.rerank != RerankMode::Off)
      r = impl_->retrieve(question, cfg, bounds, a, true, r.query_vector);
  }

  const StageDecision context = decide_context(ad, a.signals);
  const int n = context.on ? easy_context_chunks(ad, cfg.max_chunks) : cfg.max_chunks;
  a.adaptive.push_back(adaptive_step(ad, "context", context.on ? "trimmed" : "full",
                                     fmt::format("{}: {} of {} chunks", context.reason, n, cfg.max_chunks)));
  return {std::move(r.hits), n};
}

PreparedAnswer AnswerEngine::prepare(const std::string& question, const AnswerConfig& cfg, const PromptTarget* llm,
                                     const QueryBounds& bounds) {
  return prepare(question, cfg, LlmTargets{.large = llm}, bounds);
}

PreparedAnswer AnswerEngine::prepare(const std::string& question, const AnswerConfig& cfg, const LlmTargets& llms,
                                     const QueryBounds& bounds) {
  PreparedAnswer p;
  EDGERAG_CHECK(question.size() <= bounds.max_question_bytes, "answer: the question has {} bytes, over the limit of {}",
                question.size(), bounds.max_question_bytes);
  cfg.validate();
  EDGERAG_CHECK(question.find_first_not_of(" \t\r\n") != std::string::npos, "answer: the question is empty");
  const size_t n_tokens = llms.large      ? llms.large->encode({{question, false}}).size()
                          : impl_->embedder ? impl_->embedder->count_tokens(question)
                                            : 0;
  EDGERAG_CHECK(n_tokens <= static_cast<size_t>(bounds.max_question_tokens),
                "answer: the question has {} tokens, over the limit of {}", n_tokens, bounds.max_question_tokens);
  const AdaptiveConfig& ad = cfg.adaptive;
  p.adaptive = ad;
  Answer& a = p.answer;

  if (ad.cache && impl_->cache) {
    Timer t;
    p.cache_scope = impl_->cache_scope(cfg, bounds, llms.large != nullptr);
    p.cache_question = AnswerCache::normalize(question);
    if (ad.cache_similarity > 0 && impl_->dense && cfg.hybrid) p.cache_vector = impl_->embedder->embed({question}, true).at(0);
    if (std::optional<Answer> hit = impl_->cache->find(p.cache_scope, p.cache_question, p.cache_vector, ad.cache_similarity)) {
      a = std::move(*hit);
      a.cached = true;
      a.timings = {};
      a.adaptive = {adaptive_step(ad, "cache", "hit", "same collections, index version and settings", t.ms())};
      a.timings.total = p.started.ms();
      return p;
    }
    p.cache = impl_->cache;
    a.adaptive.push_back(adaptive_step(ad, "cache", "miss", "no cached answer for this question", t.ms()));
  }

  AdaptiveRetrieval r = retrieve(question, cfg, llms, bounds, a, p.cache_vector);
  AnswerConfig used = cfg;
  used.max_chunks = r.max_chunks;
  const PromptTarget* llm = a.model == "small" ? llms.small : llms.large;
  if (llm) {
    prepare_prompt(question, used, r.hits, *llm, p);
    if (std::chrono::steady_clock::now() > bounds.deadline) throw DeadlineExceeded("answer: timed out in prompt assembly");
  } else {
    impl_->extract(question, used, r.hits, a);
    cite(a);
    conclude(p, std::nullopt);
  }
  return p;
}

Answer finish_answer(PreparedAnswer p, const GeneratedText& g) {
  EDGERAG_CHECK(p.generative(), "finish_answer: the answer was not prepared for generation");
  Answer& a = p.answer;
  a.text = g.text;
  a.stop_reason = g.stop_reason;
  a.tokens.prompt = g.n_prompt;
  a.tokens.answer = g.n_answer;
  a.tokens.drafted = g.n_drafted;
  a.tokens.accepted = g.n_accepted;
  a.timings.queue = g.queue_ms;
  a.timings.prefill = g.prefill_ms;
  a.timings.decode = g.decode_ms;
  a.kv_reuse = g.kv_reuse;
  a.prompt_ids = std::move(p.prompt_ids);
  cite(a);
  conclude(p, g.token_p);
  return std::move(a);
}

Answer AnswerEngine::answer(const std::string& question, const AnswerConfig& cfg, const TokenCallback& on_token) {
  PreparedAnswer p = prepare(question, cfg, llms());
  if (!p.generative()) return std::move(p.answer);
  LlmBackend& llm = p.answer.model == "small" ? *impl_->small : *impl_->backend;
  GeneratedText g = run_stream(llm, {.ids = p.prompt_ids, .text = p.prompt}, p.generation, on_token, p.chunk_spans,
                               p.kv_reuse);
  return finish_answer(std::move(p), g);
}

nlohmann::json to_json(const Answer& a) {
  nlohmann::json cites = nlohmann::json::array();
  for (const auto& c : a.citations) {
    const Provenance& p = c.chunk.provenance;
    cites.push_back({
        {"n", c.n},
        {"chunk_id", c.chunk.chunk_id},
        {"file", p.path},
        {"page", p.page > 0 ? nlohmann::json(p.page) : nlohmann::json()},
        {"rows", p.row_begin >= 0 ? nlohmann::json::array({p.row_begin, p.row_end}) : nlohmann::json()},
        {"headings", p.headings},
        {"byte_start", p.byte_begin},
        {"byte_end", p.byte_end},
        {"text", c.chunk.text},
    });
  }
  const auto& t = a.timings;
  nlohmann::json j = {
      {"answer", a.text},
      {"mode", a.mode},
      {"citations", std::move(cites)},
      {"removed_citations", a.removed_citations},
      {"context_chunks", a.context.size()},
      {"reranked", a.reranked},
      {"stop_reason", a.stop_reason},
      {"timings_ms",
       {{"embed", t.embed},
        {"search", t.search},
        {"rerank", t.rerank},
        {"queue", t.queue},
        {"prompt", t.prompt},
        {"prefill", t.prefill},
        {"decode", t.decode},
        {"extract", t.extract},
        {"hyde", t.hyde},
        {"total", t.total}}},
      {"tokens",
       {{"prompt", a.tokens.prompt},
        {"context", a.tokens.context},
        {"answer", a.tokens.answer},
        {"drafted", a.tokens.drafted},
        {"accepted", a.tokens.accepted},
        {"acceptance_rate", a.tokens.drafted > 0 ? double(a.tokens.accepted) / a.tokens.drafted : 0.0}}},
      {"model", a.model},
      {"cached", a.cached},
      {"abstained", a.abstained},
      {"confidence", to_json(a.confidence)},
      {"signals", to_json(a.signals)},
      {"adaptive", to_json(a.adaptive)},
      {"kv_reuse",
       {{"chunk_hits", a.kv_reuse.chunk_hits},
        {"chunk_misses", a.kv_reuse.chunk_misses},
        {"reused_tokens", a.kv_reuse.reused_tokens},
        {"recomputed_tokens", a.kv_reuse.recomputed_tokens},
        {"computed_tokens", a.kv_reuse.computed_tokens}}},
  };
  if (!a.hyde_passage.empty()) j["hyde_passage"] = a.hyde_passage;
  return j;
}

}  // namespace edgerag::rag
