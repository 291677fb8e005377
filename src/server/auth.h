// API keys: "Authorization: Bearer KEY" checked against the configured keys
// without leaking, through timing, how much of a key matched.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace edgerag::server {

class ApiKeys {
 public:
  explicit ApiKeys(const std::vector<std::string>& keys);
  bool enabled() const { return !digests_.empty(); }
  // True when auth is off or the header carries one of the keys.
  bool allows(std::string_view authorization_header) const;

 private:
  std::vector<std::string> digests_;  // SHA-256 of each key: equal lengths for the constant-time compare
};

}  // namespace edgerag::server
