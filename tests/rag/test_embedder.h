// A deterministic bag-of-words embedder for tests: each word adds +1 to a
// hashed dimension, then L2 normalization, so texts sharing words are close.
#pragma once
#include <cctype>
#include <cmath>
#include <functional>

#include "rag/embedder.h"

namespace edgerag::test {

class HashEmbedder : public rag::Embedder {
 public:
  explicit HashEmbedder(int dim = 64) : dim_(dim) {}
  std::string name() const override { return "test-hash-embedder"; }
  int dim() const override { return dim_; }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool) override {
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) {
      std::vector<float> v(static_cast<size_t>(dim_), 0.f);
      std::string w;
      for (size_t i = 0; i <= t.size(); ++i) {
        if (i < t.size() && std::isalnum(static_cast<unsigned char>(t[i]))) {
          w += static_cast<char>(std::tolower(static_cast<unsigned char>(t[i])));
        } else if (!w.empty()) {
          v[std::hash<std::string>{}(w) % static_cast<size_t>(dim_)] += 1.f;
          w.clear();
        }
      }
      double n = 0;
      for (float x : v) n += x * x;
      if (n > 0)
        for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
      out.push_back(std::move(v));
    }
    ++calls;
    return out;
  }
  size_t count_tokens(std::string_view text) const override {
    size_t n = 0;
    bool in = false;
    for (char c : text) {
      bool sp = std::isspace(static_cast<unsigned char>(c));
      n += !sp && !in;
      in = !sp;
    }
    return n;
  }
  int calls = 0;

 private:
  int dim_;
};

// Scores a passage by how many query words it contains (a stand-in cross-encoder).
class OverlapReranker : public rag::Reranker {
 public:
  std::string name() const override { return "test-overlap-reranker"; }
  std::vector<float> score(const std::string& query, const std::vector<std::string>& passages) override {
    std::vector<float> s;
    for (const auto& p : passages) s.push_back(p.find(query) != std::string::npos ? 10.f : 0.f);
    ++calls;
    return s;
  }
  int calls = 0;
};

}  // namespace edgerag::test
