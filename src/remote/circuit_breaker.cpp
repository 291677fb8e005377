#include "remote/circuit_breaker.h"

namespace edgerag::remote {

bool CircuitBreaker::available(Clock::time_point now) {
  if (state_ == State::Open && now >= open_until_) state_ = State::HalfOpen, probing_ = false;
  return state_ == State::Closed || (state_ == State::HalfOpen && !probing_);
}

void CircuitBreaker::admit() {
  if (state_ == State::HalfOpen) probing_ = true;
}

void CircuitBreaker::success() {
  state_ = State::Closed;
  failures_ = 0;
  probing_ = false;
}

void CircuitBreaker::failure(Clock::time_point now) {
  if (state_ == State::HalfOpen || ++failures_ >= opt_.failures_to_open) trip(now);
}

void CircuitBreaker::trip(Clock::time_point now) {
  state_ = State::Open;
  probing_ = false;
  failures_ = 0;
  open_until_ = now + std::chrono::milliseconds(opt_.open_ms);
}

const char* CircuitBreaker::name(State s) {
  switch (s) {
    case State::Closed: return "closed";
    case State::Open: return "open";
    case State::HalfOpen: return "half_open";
  }
  return "?";
}

}  // namespace edgerag::remote
