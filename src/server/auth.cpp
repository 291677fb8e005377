#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace edgerag::server {
namespace {

std::string sha256(std::string_view s) {
  std::string d(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

}  // namespace

ApiKeys::ApiKeys(const std::vector<std::string>& keys) {
  for (const auto& k : keys) digests_.push_back(sha256(k));
}

bool ApiKeys::allows(std::string_view header) const {
  if (!enabled()) return true;
  constexpr std::string_view bearer = "Bearer ";
  if (header.substr(0, bearer.size()) != bearer) return false;
  const std::string d = sha256(header.substr(bearer.size()));
  bool ok = false;
  for (const auto& k : digests_) ok |= CRYPTO_memcmp(d.data(), k.data(), d.size()) == 0;  // no early exit
  return ok;
}

}  // namespace edgerag::server
