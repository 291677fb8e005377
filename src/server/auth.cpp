#include "server/auth.h"

#include <openssl/crypto.h>

#include <fstream>

#include "util/error.h"
#include "util/sha256.h"

namespace edgerag::server {
namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    const size_t end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace

ApiKeys::ApiKeys(const std::vector<std::string>& specs) {
  for (const auto& spec : specs) {
    const std::vector<std::string> f = split(spec, ':');
    EDGERAG_CHECK(!f[0].empty() && f.size() <= 3, "API key: expected KEY[:COLLECTION,...[:read|write]], got '{}...'",
                  spec.substr(0, 4));
    Key k{sha256_hex(f[0]), {}};
    if (f.size() >= 2 && f[1] != "*") {
      k.scope.all_collections = false;
      for (const auto& c : split(f[1], ',')) {
        EDGERAG_CHECK(!c.empty(), "API key '{}...': empty collection name", spec.substr(0, 4));
        k.scope.collections.insert(c);
      }
    }
    if (f.size() == 3) {
      EDGERAG_CHECK(f[2] == "read" || f[2] == "write", "API key '{}...': rights must be 'read' or 'write', got '{}'",
                    spec.substr(0, 4), f[2]);
      k.scope.write = f[2] == "write";
    }
    keys_.push_back(std::move(k));
  }
}

std::optional<KeyScope> ApiKeys::scope(std::string_view header) const {
  if (!enabled()) return KeyScope{};
  constexpr std::string_view bearer = "Bearer ";
  if (header.substr(0, bearer.size()) != bearer) return std::nullopt;
  const std::string d = sha256_hex(header.substr(bearer.size()));
  const Key* match = nullptr;
  for (const auto& k : keys_)  // every key compared: no early exit
    if (CRYPTO_memcmp(d.data(), k.digest.data(), d.size()) == 0) match = &k;
  if (!match) return std::nullopt;
  return match->scope;
}

std::vector<std::string> read_api_keys_file(const std::string& path) {
  std::ifstream in(path);
  EDGERAG_CHECK(in.good(), "cannot read the API keys file {}", path);
  std::vector<std::string> specs;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    specs.push_back(line.substr(b));
  }
  return specs;
}

}  // namespace edgerag::server
