#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

using namespace edgerag;

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (size_t n : {0, 1, 7, 64, 1000}) {
      for (size_t grain : {1, 4, 32}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](int, size_t b, size_t e) {
          EXPECT_TRUE(b % grain == 0);
          for (size_t i = b; i < e; ++i) hits[i]++;
        }, grain);
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << n << " " << grain;
      }
    }
  }
}

TEST(ThreadPool, RunAllUsesEveryThread) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> seen(4);
  for (int rep = 0; rep < 100; ++rep) pool.run_all([&](int t) { seen[t]++; });
  for (auto& s : seen) EXPECT_EQ(s.load(), 100);
}

// A throwing job reaches the caller (not std::terminate), every other share of
// the job still runs, and the pool keeps working afterwards.
TEST(ThreadPool, CarriesAWorkersExceptionToTheCaller) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int thrower = 0; thrower < threads; ++thrower) {
      std::atomic<int> ran{0};
      EXPECT_THROW(pool.run_all([&](int t) {
        ran++;
        if (t == thrower) throw std::runtime_error("job failed");
      }), std::runtime_error);
      EXPECT_EQ(ran.load(), threads);
    }
    std::atomic<size_t> sum{0};
    pool.parallel_for(100, [&](int, size_t b, size_t e) { sum += e - b; });
    EXPECT_EQ(sum.load(), 100u);
  }
}
