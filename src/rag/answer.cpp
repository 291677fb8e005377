#include "rag/answer.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "model/model.h"
#include "rag/citation.h"
#include "rag/extract.h"
#include "rag/index.h"
#include "rag/prompt.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace edgerag::rag {

struct AnswerEngine::Impl {
  std::unique_ptr<Index> index;
  std::shared_ptr<Embedder> embedder;
  bool dense = false;  // the index has vectors from `embedder`: hybrid retrieval
  std::shared_ptr<Reranker> reranker;
  // The LLM (all null in extractive mode).
  std::unique_ptr<Model> llm;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<Generator> gen;
  PromptTarget target;  // for `gen`

  SearchResponse retrieve(const std::string& question, const AnswerConfig& cfg, const QueryBounds& bounds, Answer& a);
  void extract(const std::string& question, const AnswerConfig& cfg, const std::vector<SearchHit>& hits, Answer& a);
};

AnswerEngine::AnswerEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AnswerEngine::~AnswerEngine() = default;
bool AnswerEngine::has_llm() const { return impl_->gen != nullptr; }
bool AnswerEngine::has_embedder() const { return impl_->embedder != nullptr; }
bool AnswerEngine::has_reranker() const { return impl_->reranker != nullptr; }
const Tokenizer* AnswerEngine::llm_tokenizer() const { return impl_->tok.get(); }

PromptTarget PromptTarget::of(const Tokenizer& tok, ChatFormat chat, int n_ctx) {
  return {chat, [&tok](const std::vector<PromptPart>& parts) { return tok.encode_parts(parts, true); }, n_ctx};
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
  if (!models.llm.empty()) {
    impl->llm = Model::load(models.llm);
    impl->tok = Tokenizer::from_gguf(impl->llm->gguf());
    impl->pool = std::make_unique<ThreadPool>(models.n_threads > 0 ? models.n_threads : default_thread_count());
    impl->gen = std::make_unique<Generator>(*impl->llm, *impl->tok, impl->pool.get(), models.n_ctx);
    impl->target = PromptTarget::of(*impl->tok, detect_chat_format(impl->llm->gguf()), impl->gen->n_ctx());
  }
  return std::unique_ptr<AnswerEngine>(new AnswerEngine(std::move(impl)));
}

SearchResponse AnswerEngine::Impl::retrieve(const std::string& question, const AnswerConfig& cfg,
                                            const QueryBounds& bounds, Answer& a) {
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
  so.rerank = reranker && cfg.rerank != RerankMode::Off;
  so.rerank_top = static_cast<size_t>(cfg.rerank_top);
  so.ef_search = static_cast<size_t>(cfg.ef_search);
  so.rerank_skip_agreement = cfg.rerank == RerankMode::On ? 2.0 : cfg.rerank_skip_agreement;  // > 1: never skip
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
  a.timings.embed = t.embed_ms;
  a.timings.rerank = t.rerank_ms;
  a.timings.search = std::max(0.0, t.total_ms - t.embed_ms - t.rerank_ms);
  a.reranked = r.reranked;
  return r;
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
  auto render = [&llm](const std::string& system, const std::string& user) {
    std::vector<ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    msgs.push_back({"user", user});
    return render_chat(llm.chat, msgs);
  };
  AssembledPrompt ap = assemble_prompt(hits, question, cfg.system_prompt, {cfg.max_chunks, budget}, render, llm.encode);
  Answer& a = p.answer;
  a.mode = "generative";
  a.context = std::move(ap.chunks);
  a.tokens.context = ap.n_context_tokens;
  a.timings.prompt = t.ms();
  p.prompt = std::move(ap.text);
  p.prompt_ids = std::move(ap.ids);
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

PreparedAnswer AnswerEngine::prepare(const std::string& question, const AnswerConfig& cfg, const PromptTarget* llm,
                                     const QueryBounds& bounds) {
  PreparedAnswer p;
  EDGERAG_CHECK(question.size() <= bounds.max_question_bytes, "answer: the question has {} bytes, over the limit of {}",
                question.size(), bounds.max_question_bytes);
  cfg.validate();
  EDGERAG_CHECK(question.find_first_not_of(" \t\r\n") != std::string::npos, "answer: the question is empty");
  const size_t n_tokens = llm              ? llm->encode({{question, false}}).size()
                          : impl_->embedder ? impl_->embedder->count_tokens(question)
                                            : 0;
  EDGERAG_CHECK(n_tokens <= static_cast<size_t>(bounds.max_question_tokens),
                "answer: the question has {} tokens, over the limit of {}", n_tokens, bounds.max_question_tokens);
  SearchResponse r = impl_->retrieve(question, cfg, bounds, p.answer);
  if (llm) {
    prepare_prompt(question, cfg, r.hits, *llm, p);
    if (std::chrono::steady_clock::now() > bounds.deadline) throw DeadlineExceeded("answer: timed out in prompt assembly");
  } else {
    impl_->extract(question, cfg, r.hits, p.answer);
    cite(p.answer);
    p.answer.timings.total = p.started.ms();
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
  a.timings.queue = g.queue_ms;
  a.timings.prefill = g.prefill_ms;
  a.timings.decode = g.decode_ms;
  a.prompt_ids = std::move(p.prompt_ids);
  cite(a);
  a.timings.total = p.started.ms();
  return std::move(a);
}

Answer AnswerEngine::answer(const std::string& question, const AnswerConfig& cfg, const TokenCallback& on_token) {
  PreparedAnswer p = prepare(question, cfg, impl_->gen ? &impl_->target : nullptr);
  if (!p.generative()) return std::move(p.answer);
  edgerag::TokenCallback cb;
  if (on_token) cb = [&on_token](int32_t, std::string_view text) { return text.empty() || on_token(text); };
  GenerationResult g = impl_->gen->generate_ids(p.prompt_ids, p.generation, cb);
  return finish_answer(std::move(p), {.text = std::move(g.text),
                                      .stop_reason = std::move(g.stop_reason),
                                      .n_prompt = static_cast<int>(g.prompt_ids.size()),
                                      .n_answer = static_cast<int>(g.tokens.size()),
                                      .prefill_ms = g.timings.prompt_ms,
                                      .decode_ms = g.timings.decode_ms});
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
  return {
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
        {"total", t.total}}},
      {"tokens", {{"prompt", a.tokens.prompt}, {"context", a.tokens.context}, {"answer", a.tokens.answer}}},
  };
}

}  // namespace edgerag::rag
