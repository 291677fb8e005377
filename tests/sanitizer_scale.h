// Sanitizer builds keep shadow memory (and ASan a quarantine of freed blocks)
// and run up to ~10x slower: tests scale their memory and time bounds by these.
#pragma once

namespace edgerag::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long kSanitizerMemory = 4;
constexpr double kSanitizerTime = 10;
#else
constexpr long kSanitizerMemory = 1;
constexpr double kSanitizerTime = 1;
#endif

}  // namespace edgerag::test
