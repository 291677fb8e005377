#include "util/deadline.h"

#include <algorithm>

#include "util/error.h"

namespace edgerag {
namespace {
thread_local DeadlineScope::Clock::time_point current = DeadlineScope::Clock::time_point::max();
}

DeadlineScope::DeadlineScope(Clock::time_point deadline) : saved_(current) { current = std::min(current, deadline); }

DeadlineScope::~DeadlineScope() { current = saved_; }

bool deadline_passed() {
  return current != DeadlineScope::Clock::time_point::max() && DeadlineScope::Clock::now() > current;
}

void check_deadline(const char* stage) {
  if (deadline_passed()) throw DeadlineExceeded(fmt::format("timed out in {}", stage));
}

}  // namespace edgerag
