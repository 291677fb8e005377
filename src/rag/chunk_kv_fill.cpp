#include "rag/chunk_kv_fill.h"

#include <algorithm>
#include <memory>
#include <span>

#include "model/chunk_kv.h"
#include "rag/prompt.h"
#include "runtime/chat_template.h"
#include "runtime/generator.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag::rag {
namespace {

// One store entry of a chunk: its key and the tokens computed after the shared
// prefix (at positions p0, p0 + 1, ...), of which the last `n` are the chunk.
struct Entry {
  std::string key;
  std::span<const int32_t> tokens;
  int32_t n = 0;
};

// A question stands after the context blocks, so its text does not change any
// key; it only has to leave the chunk room in the prompt budget.
constexpr const char* kQuestion = "?";

}  // namespace

ChunkKvFillReport fill_chunk_kv(Index& index, const std::string& collection, const Model& model, ThreadPool& pool,
                                ChunkKvStore& store, const AnswerConfig& cfg, const ChunkKvFillOptions& opt,
                                const ChunkKvFillProgress& progress) {
  EDGERAG_CHECK(!store.options().dir.empty(), "chunk KV fill: the store needs a directory");
  Timer timer;
  const auto tok = Tokenizer::from_gguf(model.gguf());
  const ChatRenderer render = chat_renderer(detect_chat_format(model.gguf()));
  const PromptEncoder encode = [&tok](const std::vector<PromptPart>& parts) { return tok->encode_parts(parts, true); };
  // The prompt budget of prepare_prompt (rag/answer.cpp) with ask's context.
  const int32_t n_ctx = opt.n_ctx > 0 ? opt.n_ctx : std::min(model.hparams().n_ctx_train, Generator::kDefaultMaxCtx);
  const int budget = std::min(cfg.max_prompt_tokens, n_ctx - cfg.max_answer_tokens);
  EDGERAG_CHECK(budget > 0, "chunk KV fill: {} answer tokens leave no room for a prompt in the LLM context of {}",
                cfg.max_answer_tokens, n_ctx);
  const bool want_chunks = std::count(opt.modes.begin(), opt.modes.end(), KvReuse::Chunks) > 0;
  const bool want_exact = std::count(opt.modes.begin(), opt.modes.end(), KvReuse::ChunksExact) > 0;
  const std::string model_id = chunk_model_id(model);

  // Sequence 0 holds the shared prefix; each entry is computed in a scratch
  // sequence sharing its blocks (at most two, each within the prompt budget).
  auto cache = model.make_cache(2 * int64_t{budget} + 256, opt.kv_type);
  const KvType type = cache->config().type;
  const int32_t bs = cache->block_size();
  std::vector<int32_t> prefix;  // tokens in sequence 0

  ChunkKvFillReport rep;
  const std::vector<int64_t> ids = index.chunk_ids(collection);
  auto report = [&] {
    rep.seconds = timer.ms() / 1000;
    if (progress) progress(rep, ids.size());
  };
  for (size_t n = 0; n < ids.size(); ++n) {
    report();
    ++rep.chunks;
    const std::optional<SearchHit> hit = index.chunk(ids[n]);
    if (!hit) continue;  // removed meanwhile
    const AssembledPrompt ap = assemble_prompt({*hit}, kQuestion, cfg.system_prompt, {1, budget}, render, encode, true);
    const std::vector<ChunkSpan> spans = ap.chunks.size() == 1 && ap.n_truncated == 0
                                             ? locate_chunks(ap.ids, ap.chunks, *tok)
                                             : std::vector<ChunkSpan>{};
    const int32_t p0 = chunk_context_end(ap.ids, cfg.system_prompt, kQuestion, render, encode);
    if (spans.size() != 1 || p0 <= 0 || p0 > spans[0].begin) {
      ++rep.unplaceable;
      continue;
    }
    const ChunkSpan c = spans[0];
    const std::span<const int32_t> prompt(ap.ids), chunk = prompt.subspan(c.begin, c.end - c.begin);
    // chunks: the chunk alone right after the prefix; chunks-exact: the prompt from the prefix to the chunk's end.
    std::vector<Entry> todo;
    auto want = [&](std::span<const int32_t> context, std::span<const int32_t> tokens) {
      std::string key = ChunkKvStore::key(model_id, type, context, chunk);
      if (store.contains(key))
        ++rep.present;
      else if (todo.empty() || todo.front().key != key)  // the same entry when the chunk starts the context
        todo.push_back({std::move(key), tokens, static_cast<int32_t>(chunk.size())});
    };
    if (want_chunks) want(prompt.first(p0), chunk);
    if (want_exact) want(prompt.first(c.begin), prompt.subspan(p0, c.end - p0));
    if (todo.empty()) continue;

    if (!std::equal(prefix.begin(), prefix.end(), prompt.begin(), prompt.begin() + p0)) {
      cache->free_sequence(0);
      Batch b;
      for (int32_t i = 0; i < p0; ++i) b.add(prompt[i], i, 0, false);
      model.forward(b, *cache, &pool);
      prefix.assign(prompt.begin(), prompt.begin() + p0);
      rep.tokens += p0;
    }
    const std::vector<int32_t> blocks(cache->block_table(0).begin(), cache->block_table(0).begin() + (p0 + bs - 1) / bs);
    Batch batch;
    for (size_t e = 0; e < todo.size(); ++e) {
      const SeqId sid = static_cast<SeqId>(e + 1);
      cache->attach(sid, blocks, p0);
      for (size_t i = 0; i < todo[e].tokens.size(); ++i)
        batch.add(todo[e].tokens[i], p0 + static_cast<int32_t>(i), sid, false);
    }
    model.forward(batch, *cache, &pool);
    rep.tokens += batch.size();
    bool full = false;
    for (size_t e = 0; e < todo.size(); ++e) {
      const int32_t end = p0 + static_cast<int32_t>(todo[e].tokens.size());
      auto kv = std::make_shared<const ChunkKv>(capture_chunk(*cache, static_cast<SeqId>(e + 1), end - todo[e].n, todo[e].n));
      if (!store.disk_has_room(*kv)) {
        full = true;
        break;
      }
      store.put(todo[e].key, std::move(kv));
      ++rep.stored;
    }
    for (size_t e = 0; e < todo.size(); ++e) cache->free_sequence(static_cast<SeqId>(e + 1));
    if (full) {
      rep.over_budget = ids.size() - n;
      break;
    }
  }
  report();
  return rep;
}

}  // namespace edgerag::rag
