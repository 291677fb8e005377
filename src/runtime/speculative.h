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

// Prompt lookup: drafts are the tokens that followed the latest earlier
// occurrence of the history's last n-gram (longest n first), so answers that
// copy phrases of the retrieved context are drafted for free. The draft length
// adapts: one longer after a fully accepted draft, halved after a rejection;
// after kMisses drafts in a row with nothing accepted the drafter pauses for a
// doubling number of steps, so a workload where lookup never helps pays
// almost nothing.
class LookupDrafter {
 public:
  static constexpr int kMaxNgram = 3, kMinNgram = 2, kMisses = 3, kMaxPause = 64;
  explicit LookupDrafter(int draft_max);
  // At most min(current length, limit) tokens continuing `history`; may be empty.
  std::vector<int32_t> propose(std::span<const int32_t> history, int limit);
  void feedback(int drafted, int accepted);
  int draft_len() const { return len_; }

 private:
  int max_, len_;
  int misses_ = 0;      // drafts in a row with nothing accepted
  int pause_ = 0;       // steps left without drafting
  int pause_len_ = 0;   // length of the last pause
};

}  // namespace edgerag
