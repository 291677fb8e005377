// A fixed pool of worker threads for data-parallel loops in the hot path.
// parallel_for splits [0, n) into one contiguous range per thread; the caller's
// thread takes part, so a pool of T threads runs T-1 workers.
// Hand-off is low latency: idle workers spin briefly on an atomic job counter
// before sleeping on a condition variable, so the hundreds of small matmuls of
// a decode step do not each pay a futex wake-up.
// A job that throws on any thread does not terminate the process: the first
// exception is rethrown to the caller of parallel_for / run_all once every
// thread has finished the job.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgerag {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(thread_index, begin, end) over a split of [0, n); ranges are multiples of
  // `grain` (except the last) so quant blocks / cache lines are not shared.
  void parallel_for(size_t n, const std::function<void(int, size_t, size_t)>& fn, size_t grain = 1);

  // fn(thread_index) once on every thread.
  void run_all(const std::function<void(int)>& fn);

 private:
  void worker(int index);
  // Runs a thread's share of the job, keeping the first exception of the job.
  void run_share(const std::function<void(int)>& fn, int index) noexcept;

  int n_threads_;
  bool spin_;  // busy-wait between jobs (only when threads <= cores)
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped once per job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<int> sleepers_{0};         // workers blocked on cv_start_
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  std::mutex error_mu_;
  std::exception_ptr error_;  // first exception of the current job
};

// Default thread count: hardware concurrency, overridable by EDGERAG_THREADS.
int default_thread_count();

}  // namespace edgerag
