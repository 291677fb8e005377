#include "eval/bench.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>

#include "model/bert_encoder.h"
#include "model/model.h"
#include "runtime/generator.h"
#include "runtime/spec_generate.h"
#include "tensor/bandwidth.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace edgerag {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t next_rand(uint64_t& s) {  // splitmix64
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Weight bytes one decode step streams from memory: every layer matrix and
// norm, the output projection, and one embedding row.
double decode_weight_bytes(const Model& m) {
  double b = static_cast<double>(m.output().nbytes() + m.token_embd().row_bytes);
  const HParams& hp = m.hparams();
  for (const LayerWeights& L : m.layers()) {
    for (const Matrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
      b += static_cast<double>(w->nbytes());
    b += 2.0 * hp.n_embd * sizeof(float);
  }
  return b;
}

bool is_word(const std::string& s) {
  if (s.size() < 2) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; });
}

}  // namespace

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  return 0;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

GenBenchResult bench_gen(const GenBenchOptions& opts) {
  EDGERAG_CHECK(opts.n_prompt > 0 && opts.n_gen > 1 && opts.reps > 0,
                "bench gen: need prompt >= 1, generated >= 2 and reps >= 1 (got {}, {}, {})", opts.n_prompt,
                opts.n_gen, opts.reps);
  int max_prompt = opts.n_prompt;
  for (int n : opts.ctx_sweep) {
    EDGERAG_CHECK(n > 0, "bench gen: context lengths of the sweep must be positive (got {})", n);
    max_prompt = std::max(max_prompt, n);
  }
  GenBenchResult r;
  r.model = opts.model;
  r.n_threads = opts.n_threads > 0 ? opts.n_threads : default_thread_count();
  r.n_prompt = opts.n_prompt;
  r.n_gen = opts.n_gen;
  r.reps = opts.reps;
  ThreadPool pool(r.n_threads);

  Timer load;
  auto model = Model::load(opts.model);
  auto tok = Tokenizer::from_gguf(model->gguf());
  r.load_ms = load.ms();
  Generator gen(*model, *tok, &pool, max_prompt + opts.n_gen, opts.kv_type);
  std::unique_ptr<SpecEngine> spec;
  if (opts.spec.mode != SpecMode::Off)
    spec = std::make_unique<SpecEngine>(*model, *tok, &pool, max_prompt + opts.n_gen, opts.spec, opts.kv_type);
  auto generate = [&](const std::vector<int32_t>& ids, const GenerationParams& p) {
    return spec ? spec->generate_text(ids, p, opts.spec) : gen.generate_ids(ids, p);
  };
  r.kv_type = gen.kv_config().type.name();
  r.kv_bytes_per_token = gen.kv_config().bytes_per_token();

  // Ordinary tokens only, so no control token changes the model's behaviour.
  std::vector<int32_t> prompt;
  uint64_t state = 42;
  while (static_cast<int>(prompt.size()) < max_prompt) {
    const auto id = static_cast<int32_t>(next_rand(state) % static_cast<uint64_t>(tok->n_vocab()));
    if (tok->token_type(id) == TokenType::Normal) prompt.push_back(id);
  }
  GenerationParams params;
  params.max_tokens = opts.n_gen;
  params.sampling.temperature = 0;  // greedy
  params.stop_at_eog = false;

  // Warm-up: fault in the mapped weights so the first repetition is not an outlier.
  GenerationParams warm = params;
  warm.max_tokens = 2;
  generate({prompt.begin(), prompt.begin() + std::min(8, opts.n_prompt)}, warm);
  // Medians over the repetitions of a prompt of n tokens.
  auto measure = [&](int n, double* prefill_tok_s, double* decode_tok_s, double* ttft_ms) {
    std::vector<double> prefill, decode, ttft;
    const double cpu0 = process_cpu_seconds();
    Timer wall;
    for (int i = 0; i < opts.reps; ++i) {
      const GenerationResult res = generate({prompt.begin(), prompt.begin() + n}, params);
      prefill.push_back(res.timings.prefill_tok_s);
      decode.push_back(res.timings.decode_tok_s);
      ttft.push_back(res.timings.ttft_ms);
    }
    *prefill_tok_s = median(prefill);
    *decode_tok_s = median(decode);
    if (ttft_ms) *ttft_ms = median(ttft);
    return (process_cpu_seconds() - cpu0) / wall.seconds();
  };
  r.cpu_utilization = measure(opts.n_prompt, &r.prefill_tok_s, &r.decode_tok_s, &r.ttft_ms);
  for (int n : opts.ctx_sweep) {
    CtxSweepRow row;
    row.n_ctx = n;
    row.cpu_utilization = measure(n, &row.prefill_tok_s, &row.decode_tok_s, nullptr);
    r.ctx_sweep.push_back(row);
  }
  r.peak_rss_mb = peak_rss_mb();  // before the bandwidth probe allocates its buffer
  r.bytes_per_token = decode_weight_bytes(*model);
  r.device = model->device();
  const VramUse vram = model->vram();
  r.vram_weights_mb = vram.weights / 1048576.0;
  r.vram_kv_mb = vram.kv / 1048576.0;
  r.vram_peak_mb = vram.peak / 1048576.0;
  if (!opts.bandwidth) return r;
  const ReadBandwidth bw = measure_read_bandwidth(pool);
  r.bandwidth_gb_s = bw.median_gbs;
  r.bandwidth_min_gb_s = bw.min_gbs;
  r.bandwidth_max_gb_s = bw.max_gbs;
  r.bandwidth_passes = static_cast<int>(bw.pass_seconds.size());
  r.decode_bound_fraction = r.decode_tok_s / (r.bandwidth_gb_s * 1e9 / r.bytes_per_token);
  return r;
}

EmbedBenchResult bench_embed(const EmbedBenchOptions& opts) {
  EDGERAG_CHECK(opts.n_texts > 0 && opts.words_per_text > 0 && opts.reps > 0 && !opts.batch_sizes.empty(),
                "bench embed: texts, words per text, reps and batch sizes must be positive");
  EmbedBenchResult r;
  r.model = opts.model;
  r.n_threads = opts.n_threads > 0 ? opts.n_threads : default_thread_count();
  r.n_texts = opts.n_texts;
  r.reps = opts.reps;

  auto probe = Encoder::load(opts.model, {.n_threads = 1});
  const Tokenizer& tok = probe->tokenizer();
  std::vector<std::string> words;
  for (int32_t id = 0; id < tok.n_vocab(); ++id)
    if (tok.token_type(id) == TokenType::Normal && is_word(tok.token_text(id))) words.push_back(tok.token_text(id));
  EDGERAG_CHECK(words.size() >= 100, "bench embed: {} has too few word tokens to build texts", opts.model);
  std::vector<std::string> texts(opts.n_texts);
  uint64_t state = 7;
  double n_tokens = 0;
  for (auto& t : texts) {
    for (int w = 0; w < opts.words_per_text; ++w) t += (w ? " " : "") + words[next_rand(state) % words.size()];
    n_tokens += static_cast<double>(probe->tokenize(t).size());
  }
  r.tokens_per_text = n_tokens / opts.n_texts;
  const std::string query = "what is the answer to the question";

  for (int batch : opts.batch_sizes) {
    auto enc = Encoder::load(opts.model, {.batch_size = batch, .n_threads = r.n_threads});
    r.device = enc->model().device();
    std::vector<double> secs;
    const double cpu0 = process_cpu_seconds();
    Timer wall;
    for (int i = 0; i < opts.reps; ++i) {
      Timer t;
      if (enc->is_reranker()) enc->rerank(query, texts);
      else enc->embed(texts);
      secs.push_back(t.seconds());
    }
    const double s = median(secs), cpu = process_cpu_seconds() - cpu0;
    r.rows.push_back({batch, opts.n_texts / s, n_tokens / s, n_tokens * opts.reps / cpu, cpu / wall.seconds()});
  }
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

}  // namespace edgerag
