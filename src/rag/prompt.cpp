#include "rag/prompt.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "rag/chunker.h"  // split_sentences
#include "runtime/chat_template.h"
#include "util/error.h"

namespace edgerag::rag {

std::string source_label(const Provenance& p) {
  std::string label = std::filesystem::path(p.path).filename().string();
  if (label.empty()) label = p.path;
  if (p.page > 0) label += fmt::format(", p. {}", p.page);
  if (p.row_begin >= 0) label += fmt::format(", rows {}-{}", p.row_begin, p.row_end);
  const std::string& section = p.headings.empty() ? p.title : p.headings;
  if (!section.empty()) label += ": " + section;
  return label;
}

std::vector<SearchHit> select_chunks(const std::vector<SearchHit>& ranked, int max_chunks) {
  std::vector<SearchHit> out;
  std::set<int64_t> seen;
  for (const SearchHit& hit : ranked) {
    if (static_cast<int>(out.size()) >= max_chunks) break;
    if (!hit.text.empty() && seen.insert(hit.chunk_id).second) out.push_back(hit);
  }
  return out;
}

namespace {

std::string chunk_block(size_t i, const SearchHit& chunk) {
  return fmt::format("[{}] {}\n{}\n\n", i + 1, source_label(chunk.provenance), chunk.text);
}

}  // namespace

std::string format_user_message(const std::vector<SearchHit>& chunks, const std::string& question) {
  std::string msg;
  if (!chunks.empty()) msg += "Context:\n\n";
  for (size_t i = 0; i < chunks.size(); ++i) msg += chunk_block(i, chunks[i]);
  msg += "Question: " + question;
  return msg;
}

void isolate_chunk_parts(std::vector<PromptPart>& parts, const std::vector<SearchHit>& chunks) {
  size_t part = 0;  // search cursor: chunk blocks come in order
  for (size_t i = 0; i < chunks.size(); ++i) {
    const std::string block = chunk_block(i, chunks[i]);
    for (size_t j = part; j < parts.size(); ++j) {
      if (parts[j].special || parts[j].isolated) continue;
      const size_t at = parts[j].text.find(block);
      if (at == std::string::npos) continue;
      // [text before the chunk][chunk, isolated][the rest]
      const size_t begin = at + block.size() - chunks[i].text.size() - 2, end = begin + chunks[i].text.size();
      PromptPart rest{parts[j].text.substr(end), false};
      PromptPart text{parts[j].text.substr(begin, end - begin), false, true};
      parts[j].text.resize(begin);
      parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(j) + 1, {std::move(text), std::move(rest)});
      part = j + 2;
      break;
    }
  }
}

AssembledPrompt assemble_prompt(const std::vector<SearchHit>& ranked, const std::string& question,
                                const std::string& system, const PromptBudget& budget, const ChatRenderer& render,
                                const PromptEncoder& encode, bool isolate_chunks) {
  AssembledPrompt out;
  auto build = [&](const std::vector<SearchHit>& chunks, AssembledPrompt& p) {
    p.user_message = format_user_message(chunks, question);
    std::vector<PromptPart> parts = render(system, p.user_message);
    if (isolate_chunks) isolate_chunk_parts(parts, chunks);
    p.text = prompt_text(parts);
    p.ids = encode(parts);
    p.n_tokens = static_cast<int>(p.ids.size());
    return p.n_tokens <= budget.max_prompt_tokens;
  };
  if (!build({}, out))
    fail("prompt: the question and system prompt alone take {} tokens, over the budget of {}", out.n_tokens,
         budget.max_prompt_tokens);
  const int base_tokens = out.n_tokens;

  AssembledPrompt trial;
  for (const SearchHit& hit : select_chunks(ranked, budget.max_chunks)) {
    out.chunks.push_back(hit);
    if (build(out.chunks, trial)) {
      out.user_message = std::move(trial.user_message);
      out.text = std::move(trial.text);
      out.ids = std::move(trial.ids);
      out.n_tokens = trial.n_tokens;
      continue;
    }
    // The largest whole-sentence prefix that fits (token count grows with the
    // number of sentences, so binary search).
    auto spans = split_sentences(hit.text);
    size_t lo = 0, hi = spans.size();  // `lo` sentences fit; more than `hi` do not
    while (lo < hi) {
      size_t mid = (lo + hi + 1) / 2;
      out.chunks.back().text = hit.text.substr(0, spans[mid - 1].second);
      if (build(out.chunks, trial))
        lo = mid;
      else
        hi = mid - 1;
    }
    if (lo == 0) {
      out.chunks.pop_back();
    } else {
      out.chunks.back().text = hit.text.substr(0, spans[lo - 1].second);
      build(out.chunks, out);
      out.n_truncated = 1;
    }
    break;
  }
  // Candidates not included (the one cut short counts as included).
  std::set<int64_t> included;
  for (const auto& c : out.chunks) included.insert(c.chunk_id);
  for (const auto& hit : ranked)
    if (!included.count(hit.chunk_id)) out.n_dropped++;
  out.n_context_tokens = out.n_tokens - base_tokens;
  return out;
}

ChatRenderer chat_renderer(ChatFormat chat) {
  return [chat](const std::string& system, const std::string& user) {
    std::vector<ChatMessage> msgs;
    if (!system.empty()) msgs.push_back({"system", system});
    msgs.push_back({"user", user});
    return render_chat(chat, msgs);
  };
}

int32_t chunk_context_end(const std::vector<int32_t>& ids, const std::string& system, const std::string& question,
                          const ChatRenderer& render, const PromptEncoder& encode) {
  const std::vector<int32_t> bare = encode(render(system, format_user_message({}, question)));
  return static_cast<int32_t>(std::mismatch(bare.begin(), bare.end(), ids.begin(), ids.end()).second - ids.begin());
}

std::vector<ChunkSpan> locate_chunks(const std::vector<int32_t>& ids, const std::vector<SearchHit>& chunks,
                                     const Tokenizer& tok) {
  std::vector<ChunkSpan> spans;
  auto from = ids.begin();
  for (const SearchHit& c : chunks) {
    const std::vector<int32_t> t = tok.encode(c.text, false, false);
    for (const auto& [skip_front, skip_back] : {std::pair{0, 0}, {1, 0}, {1, 1}}) {
      if (static_cast<int>(t.size()) - skip_front - skip_back < 4) break;
      const auto it = std::search(from, ids.end(), t.begin() + skip_front, t.end() - skip_back);
      if (it == ids.end()) continue;
      const auto begin = static_cast<int32_t>(it - ids.begin());
      spans.push_back({begin, begin + static_cast<int32_t>(t.size()) - skip_front - skip_back});
      from = ids.begin() + spans.back().end;
      break;
    }
  }
  return spans;
}

}  // namespace edgerag::rag
