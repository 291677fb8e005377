#include "util/deadline.h"

#include <gtest/gtest.h>

#include <thread>

#include "util/error.h"

namespace edgerag {
namespace {

using Clock = DeadlineScope::Clock;
using namespace std::chrono_literals;

TEST(Deadline, ScopesNestToTheEarlierAndRestore) {
  EXPECT_NO_THROW(check_deadline("no scope"));
  {
    DeadlineScope later(Clock::now() + 1h);
    EXPECT_NO_THROW(check_deadline("an hour left"));
    {
      DeadlineScope past(Clock::now() - 1ms);
      try {
        check_deadline("the rerank");
        ADD_FAILURE() << "no DeadlineExceeded past the deadline";
      } catch (const DeadlineExceeded& e) {
        EXPECT_STREQ(e.what(), "timed out in the rerank");
      }
      DeadlineScope looser(Clock::now() + 1h);  // cannot extend the enclosing one
      EXPECT_THROW(check_deadline("inner"), DeadlineExceeded);
    }
    EXPECT_NO_THROW(check_deadline("restored"));
  }
  EXPECT_NO_THROW(check_deadline("no scope again"));
}

TEST(Deadline, PerThread) {
  DeadlineScope past(Clock::now() - 1ms);
  EXPECT_THROW(check_deadline("here"), DeadlineExceeded);
  std::thread other([] { EXPECT_NO_THROW(check_deadline("another thread")); });
  other.join();
}

}  // namespace
}  // namespace edgerag
