// Speculative decoding's draft side: which source proposes tokens for a
// request (--speculative off|lookup|draft:MODEL|auto, --draft-max N) and the
// prompt-lookup source. Drafts are verified by the scheduler in one forward
// (every draft position gets logits) and kept up to the first token the target
// would not have produced (Sampler::sample with a draft), so output is unchanged.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag {

enum class SpecMode { Off, Lookup, Draft, Auto };

struct SpecOptions {
  SpecMode mode = SpecMode::Off;
  std::string draft_model;  // SpecMode::Draft: the draft model's path
  int draft_max = 8;        // most draft tokens verified in one step
  // Auto: prompts of at least this many tokens (a retrieved context) use lookup.
  static constexpr size_t kAutoMinPrompt = 128;
};

// "off" | "lookup" | "auto" | "draft:PATH"; throws edgerag::Error otherwise or for
// draft_max outside [1, 32].
SpecOptions parse_speculative(std::string_view flag, int draft_max);
std::string speculative_name(const SpecOptions& o);  // the flag again
// Auto resolved for a prompt of n_prompt tokens: Lookup or Off.
SpecMode resolve_auto(const SpecOptions& o, size_t n_prompt);

// Prompt lookup: the tokens that followed the latest earlier occurrence of the
// history's last n-gram (n = kMaxNgram down to kMinNgram), at most k of them;
// answers that copy phrases of the retrieved context are drafted for free.
constexpr int kLookupMaxNgram = 3, kLookupMinNgram = 2;
std::vector<int32_t> lookup_draft(std::span<const int32_t> history, int k);

// How many tokens to draft next, for any source: one more after a fully
// accepted draft, half after a rejection; after kMisses drafts in a row with
// nothing accepted, no drafts for a doubling number of steps (up to kMaxPause),
// so a workload where drafts never help pays almost nothing.
class DraftPacer {
 public:
  static constexpr int kMisses = 3, kMaxPause = 64;
  explicit DraftPacer(int draft_max);
  // Draft length for this step, at most `limit`; 0 while pausing (counts a step).
  int next(int limit);
  void feedback(int drafted, int accepted);
  int draft_len() const { return len_; }

 private:
  int max_, len_;
  int misses_ = 0;     // drafts in a row with nothing accepted
  int pause_ = 0;      // steps left without drafting
  int pause_len_ = 0;  // length of the last pause
};

}  // namespace edgerag
