// The deadline of the request the calling thread is serving. Long steps deep
// inside a request (every BERT layer of a rerank or a query embedding, every
// encoder pass) check it where they loop, so a request stops within one such
// step of its deadline without each interface between the request handler
// and the loop carrying it. Thread-local: the thread that drives a loop checks
// (a ThreadPool's workers run parts of one step and do not need to).
//
//   DeadlineScope scope(Clock::now() + 5s);  // for this thread, until scope ends
//   ... check_deadline("rerank");            // throws DeadlineExceeded past it
#pragma once
#include <chrono>

namespace edgerag {

class DeadlineScope {
 public:
  using Clock = std::chrono::steady_clock;
  // The earlier of `deadline` and the one already in force on this thread.
  explicit DeadlineScope(Clock::time_point deadline);
  ~DeadlineScope();  // restores the enclosing deadline
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

 private:
  Clock::time_point saved_;
};

// Throws DeadlineExceeded ("timed out in STAGE") when this thread's deadline
// has passed; a no-op outside any DeadlineScope.
void check_deadline(const char* stage);
// Whether this thread's deadline has passed, for callbacks that cannot throw
// (SQLite's progress handler, hnswlib's distance function).
bool deadline_passed();

}  // namespace edgerag
