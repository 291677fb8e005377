// API keys: "Authorization: Bearer KEY" checked against the configured keys
// without leaking, through timing, how much of a key matched. A key may be
// scoped to collections and to reading only:
//   KEY                      every collection, read and write
//   KEY:notes,wiki           those collections, read and write
//   KEY:notes,wiki:read      those collections, read only
//   KEY:*:read               every collection, read only
// ("read": RAG queries; "write": uploading and deleting documents).
#pragma once
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag::server {

struct KeyScope {
  bool all_collections = true;
  std::set<std::string> collections;  // when not all_collections
  bool write = true;
  bool covers(const std::string& collection) const { return all_collections || collections.count(collection) > 0; }
};

class ApiKeys {
 public:
  // Specs as above; throws edgerag::Error for a malformed one.
  explicit ApiKeys(const std::vector<std::string>& specs);
  bool enabled() const { return !keys_.empty(); }
  // True when auth is off or the header carries one of the keys.
  bool allows(std::string_view authorization_header) const { return scope(authorization_header).has_value(); }
  // What the header's key may touch (everything when auth is off); nullopt for no valid key.
  std::optional<KeyScope> scope(std::string_view authorization_header) const;

 private:
  struct Key {
    std::string digest;  // SHA-256 of the key: equal lengths for the constant-time compare
    KeyScope scope;
  };
  std::vector<Key> keys_;
};

// The key specs of a keys file: one per line; blank lines and lines starting
// with '#' are skipped. Throws edgerag::Error when it cannot be read.
std::vector<std::string> read_api_keys_file(const std::string& path);

}  // namespace edgerag::server
