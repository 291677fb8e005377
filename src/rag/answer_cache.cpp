#include "rag/answer_cache.h"

#include <cctype>

namespace edgerag::rag {
namespace {

size_t hit_bytes(const SearchHit& h) {
  return sizeof(SearchHit) + h.text.size() + h.provenance.path.size() + h.provenance.headings.size() +
         h.provenance.title.size() + h.provenance.collection.size();
}

size_t answer_bytes(const Answer& a) {
  size_t n = sizeof(Answer) + a.text.size() + a.prompt_ids.size() * sizeof(int32_t) + a.hyde_passage.size();
  for (const auto& c : a.citations) n += hit_bytes(c.chunk);
  for (const auto& h : a.context) n += hit_bytes(h);
  for (const auto& s : a.adaptive) n += sizeof(s) + s.reason.size();
  return n;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return -1;
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += static_cast<double>(a[i]) * b[i];
  return d;  // both L2-normalized (Embedder)
}

}  // namespace

AnswerCache::AnswerCache(size_t max_entries, size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}

std::string AnswerCache::normalize(std::string_view question) {
  std::string out;
  for (unsigned char c : question) {
    if (std::isalnum(c) || c >= 0x80) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::optional<Answer> AnswerCache::find(const std::string& scope, const std::string& normalized,
                                        const std::vector<float>& vector, double min_cosine) {
  std::lock_guard lock(mu_);
  auto best = lru_.end();
  double best_cos = min_cosine;
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->scope != scope) continue;
    if (it->question == normalized) {
      best = it;
      break;
    }
    if (min_cosine > 0 && !vector.empty()) {
      const double c = cosine(vector, it->vector);
      if (c >= best_cos) best_cos = c, best = it;
    }
  }
  if (best == lru_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, best);
  return lru_.front().answer;
}

void AnswerCache::put(const std::string& scope, const std::string& normalized, std::vector<float> vector,
                      const Answer& answer) {
  std::lock_guard lock(mu_);
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if (it->scope == scope && it->question == normalized) {
      bytes_ -= it->bytes;
      lru_.erase(it);
      break;
    }
  }
  Entry e{scope, normalized, std::move(vector), answer, 0};
  e.bytes = answer_bytes(answer) + scope.size() + normalized.size() + e.vector.size() * sizeof(float);
  if (e.bytes > max_bytes_ || max_entries_ == 0) return;  // would not fit even alone
  bytes_ += e.bytes;
  lru_.push_front(std::move(e));
  evict();
}

void AnswerCache::evict() {
  while (!lru_.empty() && (lru_.size() > max_entries_ || bytes_ > max_bytes_)) {
    bytes_ -= lru_.back().bytes;
    lru_.pop_back();
  }
}

size_t AnswerCache::size() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

size_t AnswerCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace edgerag::rag
