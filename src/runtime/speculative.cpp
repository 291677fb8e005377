#include "runtime/speculative.h"

#include <algorithm>

#include "util/error.h"

namespace edgerag {

SpecOptions parse_speculative(std::string_view flag, int draft_max) {
  EDGERAG_CHECK(draft_max >= 1 && draft_max <= 32, "--draft-max must be in [1, 32], got {}", draft_max);
  SpecOptions o;
  o.draft_max = draft_max;
  if (flag == "off") {
    o.mode = SpecMode::Off;
  } else if (flag == "lookup") {
    o.mode = SpecMode::Lookup;
  } else if (flag == "auto") {
    o.mode = SpecMode::Auto;
  } else if (flag.starts_with("draft:") && flag.size() > 6) {
    o.mode = SpecMode::Draft;
    o.draft_model = std::string(flag.substr(6));
  } else {
    fail("--speculative must be off, lookup, auto or draft:MODEL, got '{}'", flag);
  }
  return o;
}

std::string speculative_name(const SpecOptions& o) {
  switch (o.mode) {
    case SpecMode::Off: return "off";
    case SpecMode::Lookup: return "lookup";
    case SpecMode::Auto: return "auto";
    case SpecMode::Draft: return "draft:" + o.draft_model;
  }
  return "off";
}

SpecMode resolve_auto(const SpecOptions& o, size_t n_prompt) {
  if (o.mode != SpecMode::Auto) return o.mode;
  return n_prompt >= SpecOptions::kAutoMinPrompt ? SpecMode::Lookup : SpecMode::Off;
}

std::vector<int32_t> lookup_draft(std::span<const int32_t> h, int k) {
  const size_t n_h = h.size();
  if (k <= 0 || n_h <= static_cast<size_t>(kLookupMinNgram)) return {};
  for (size_t n = std::min<size_t>(kLookupMaxNgram, n_h - 1); n >= kLookupMinNgram; --n) {
    const auto tail = h.subspan(n_h - n);
    // Latest earlier occurrence: recent text predicts the continuation best.
    for (size_t i = n_h - n; i-- > 0;) {
      if (!std::equal(tail.begin(), tail.end(), h.begin() + i)) continue;
      const size_t from = i + n, to = std::min(n_h, from + k);
      return {h.begin() + from, h.begin() + to};
    }
  }
  return {};
}

DraftPacer::DraftPacer(int draft_max) : max_(std::max(1, draft_max)), len_(std::min(max_, 4)) {}

int DraftPacer::next(int limit) {
  if (limit <= 0) return 0;
  if (pause_ > 0) {
    --pause_;
    return 0;
  }
  return std::min(len_, limit);
}

void DraftPacer::feedback(int drafted, int accepted) {
  if (drafted <= 0) return;
  len_ = accepted == drafted ? std::min(max_, len_ + 1) : std::max(1, len_ / 2);
  if (accepted > 0) {
    misses_ = pause_len_ = 0;
  } else if (++misses_ >= kMisses) {
    pause_len_ = std::clamp(pause_len_ * 2, 4, kMaxPause);
    pause_ = pause_len_;
    misses_ = 0;
  }
}

}  // namespace edgerag
