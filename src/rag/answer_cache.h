// Answers kept for repeated questions. An entry is found by its scope (the
// collections searched, their data version from Index::data_version, and the
// answer settings) and the question's normalized text, or, when asked, by the
// cosine of question embeddings within the same scope. Any ingest or delete
// in a collection changes its data version, so older entries no longer match
// (they age out). Bounded by entries and bytes, least recently used first out.
// Thread-safe: the server's query engines share one.
#pragma once
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rag/answer.h"

namespace edgerag::rag {

class AnswerCache {
 public:
  explicit AnswerCache(size_t max_entries = 256, size_t max_bytes = 32u << 20);

  // Lower case, punctuation dropped, whitespace collapsed: "What is WAL?" == "what is  wal".
  static std::string normalize(std::string_view question);

  // The cached answer for an exact normalized match, else (with a vector and
  // min_cosine > 0) the most similar entry of the scope at or above min_cosine.
  std::optional<Answer> find(const std::string& scope, const std::string& normalized,
                             const std::vector<float>& vector = {}, double min_cosine = 0);
  void put(const std::string& scope, const std::string& normalized, std::vector<float> vector, const Answer& answer);

  size_t size() const;
  size_t bytes() const;

 private:
  struct Entry {
    std::string scope, question;
    std::vector<float> vector;
    Answer answer;
    size_t bytes = 0;
  };
  void evict();  // caller holds mu_
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  size_t max_entries_, max_bytes_, bytes_ = 0;
};

}  // namespace edgerag::rag
