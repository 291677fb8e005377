#include "eval/report_speed.h"

#include <algorithm>
#include <fstream>

#include "eval/bench.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {
namespace {

int32_t argmax(const float* x, int32_t n) { return static_cast<int32_t>(std::max_element(x, x + n) - x); }

// Ordinary (non-control) token ids spread over the vocabulary, different per sequence.
std::vector<int32_t> prompt_ids(int32_t n_vocab, int n, int seq) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = 3 + static_cast<int32_t>((7919L * (i + 1) + 104729L * seq) % (n_vocab - 3));
  return ids;
}

}  // namespace

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  return static_cast<bool>(f << "5");
}

SpeedResult measure_speed(const std::string& path, const SpeedOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(opt.n_prompt >= 1 && opt.n_gen >= 2, "speed: need a prompt and at least 2 generated tokens");
  SpeedResult r;
  reset_peak_rss();
  Timer load;
  auto model = Model::load(path);
  r.load_ms = load.ms();
  const int32_t nv = model->hparams().n_vocab;
  const int max_b = opt.batches.empty() ? 1 : *std::max_element(opt.batches.begin(), opt.batches.end());
  auto cache = model->make_cache(static_cast<int64_t>(std::max(1, max_b)) * (opt.n_prompt + opt.n_gen));

  // Prefills every sequence of a batch (one forward) and returns each one's first token.
  auto prefill = [&](int n_seq) {
    Batch b;
    for (int s = 0; s < n_seq; ++s) {
      const auto ids = prompt_ids(nv, opt.n_prompt, s);
      for (int i = 0; i < opt.n_prompt; ++i) b.add(ids[i], i, s, i + 1 == opt.n_prompt);
    }
    const Logits lg = model->forward(b, *cache, pool);
    std::vector<int32_t> next(n_seq);
    for (int s = 0; s < n_seq; ++s) next[s] = argmax(lg.row(s), nv);
    return next;
  };
  auto decode = [&](std::vector<int32_t> next) {
    for (int step = 1; step < opt.n_gen; ++step) {
      Batch b;
      for (size_t s = 0; s < next.size(); ++s) b.add(next[s], opt.n_prompt + step - 1, static_cast<SeqId>(s), true);
      const Logits lg = model->forward(b, *cache, pool);
      for (size_t s = 0; s < next.size(); ++s) next[s] = argmax(lg.row(static_cast<int32_t>(s)), nv);
    }
  };
  auto clear = [&](int n_seq) {
    for (int s = 0; s < n_seq; ++s) cache->free_sequence(s);
  };

  prefill(1);  // warm-up: page in the weights
  clear(1);
  Timer t;
  auto first = prefill(1);
  r.ttft_ms = t.ms();
  r.prefill_tok_s = opt.n_prompt / (r.ttft_ms / 1000);
  EnergyMeter meter(opt.tdp_watts);
  meter.start();
  decode(first);
  const EnergyReading e = meter.stop();
  r.decode_tok_s = (opt.n_gen - 1) / e.seconds;
  r.energy_method = e.method;
  r.energy_j_per_token = e.valid() ? e.joules / (opt.n_gen - 1) : 0;
  clear(1);
  for (int b : opt.batches) {
    EDGERAG_CHECK(b >= 1, "speed: batch sizes must be positive");
    auto next = prefill(b);
    Timer tb;
    decode(next);
    r.batch_tok_s.emplace_back(b, static_cast<double>(b) * (opt.n_gen - 1) / tb.seconds());
    clear(b);
  }
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

}  // namespace edgerag
