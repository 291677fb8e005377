#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <utility>

namespace edgerag {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Busy-waits until done() or the time budget is spent: pause-spinning first,
// then yielding so a busy machine can run the thread we wait for. Pools with
// more threads than cores do not spin at all (spinners would steal the cores
// the working threads need).
template <typename Pred>
bool spin_until(bool enabled, Pred done) {
  if (!enabled) return done();
  using clock = std::chrono::steady_clock;
  constexpr auto kPauseFor = std::chrono::microseconds(30), kYieldFor = std::chrono::microseconds(200);
  const auto t0 = clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    const auto dt = clock::now() - t0;
    if (dt > kYieldFor) return done();
    if (dt > kPauseFor) std::this_thread::yield();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)),
      spin_(static_cast<unsigned>(n_threads_) <= std::max(1u, std::thread::hardware_concurrency())) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto has_job = [&] { return generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(spin_, has_job)) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);  // seq_cst: ordered against run_all's generation bump
      cv_start_.wait(lock, has_job);
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    run_share(*job_, index);
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_done_.notify_one();
    }
  }
}

void ThreadPool::run_share(const std::function<void(int)>& fn, int index) noexcept {
  try {
    fn(index);
  } catch (...) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (!error_) error_ = std::current_exception();
  }
}

void ThreadPool::run_all(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);  // seq_cst: a worker either sees it or is counted in sleepers_
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_start_.notify_all();
  }
  run_share(fn, 0);
  auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(spin_, done)) {
    std::unique_lock<std::mutex> lock(mu_);
    caller_sleeping_.store(true);
    cv_done_.wait(lock, done);
    caller_sleeping_.store(false);
  }
  job_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));  // workers are done: no lock needed
}

void ThreadPool::parallel_for(size_t n, const std::function<void(int, size_t, size_t)>& fn, size_t grain) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  size_t chunks = (n + grain - 1) / grain;
  int used = static_cast<int>(std::min<size_t>(chunks, static_cast<size_t>(n_threads_)));
  if (used <= 1) {
    fn(0, 0, n);
    return;
  }
  run_all([&](int t) {
    if (t >= used) return;
    size_t c0 = chunks * t / used, c1 = chunks * (t + 1) / used;
    size_t b = c0 * grain, e = std::min(n, c1 * grain);
    if (b < e) fn(t, b, e);
  });
}

int default_thread_count() {
  if (const char* env = std::getenv("EDGERAG_THREADS")) {
    int v = std::atoi(env);
    if (v > 0) return v;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

}  // namespace edgerag
