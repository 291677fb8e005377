// A replica's circuit breaker: Closed (requests flow) -> Open after
// `failures_to_open` consecutive failures (no requests for `open_ms`) ->
// HalfOpen (exactly one probe, a live request or a health check) -> Closed
// when the probe succeeds, Open again when it fails. Time is passed in so the
// states are tested without sleeping. Not thread-safe: the pool locks it.
#pragma once
#include <chrono>

namespace edgerag::remote {

struct BreakerOptions {
  int failures_to_open = 3;
  int open_ms = 2000;
};

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { Closed, Open, HalfOpen };

  explicit CircuitBreaker(BreakerOptions opt = {}) : opt_(opt) {}
  // Whether a request may be sent now (an Open breaker past its wait turns HalfOpen).
  bool available(Clock::time_point now);
  // Takes the permission: in HalfOpen this request is the probe and no other is let through.
  void admit();
  void success();
  void failure(Clock::time_point now);
  void trip(Clock::time_point now);  // opens at once (a failed health check)
  State state() const { return state_; }
  static const char* name(State s);

 private:
  BreakerOptions opt_;
  State state_ = State::Closed;
  int failures_ = 0;
  bool probing_ = false;
  Clock::time_point open_until_{};
};

}  // namespace edgerag::remote
