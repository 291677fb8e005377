// Extractive answering: the sentences of the retrieved chunks that best support
// the question, each cited with its chunk's number. Sentences (the chunker's
// ICU sentence spans) are scored with
// the index's BM25 (FTS5, Porter stemming, English stop words and question
// words dropped) over the candidate sentences; with an embedder, that ranking
// is fused (RRF) with the cosine ranking of sentence embeddings.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "rag/embedder.h"
#include "rag/search_types.h"

namespace edgerag::rag {

// The question's content words as BM25 query terms: English stop words and
// question words ("what", "how", "does", ...) dropped, which otherwise match
// FAQ-style text; all terms when nothing else is left.
std::vector<std::string> question_terms(const std::string& question);

struct ScoredSentence {
  int chunk = 0;   // 1-based number of its chunk in the list given
  size_t begin = 0, end = 0;  // bytes of the sentence in that chunk's text
  std::string text;
  double score = 0;
};

struct ExtractOptions {
  int max_sentences = 3;
  int min_words = 3;  // shorter fragments (headings, captions) are not answers
  double rrf_k = 60;  // fusion constant when an embedder is given
};

// The best sentences, best first; only sentences sharing a question term (or,
// with an embedder, ranked by it) are returned, so the result may be empty.
std::vector<ScoredSentence> best_sentences(const std::vector<SearchHit>& chunks, const std::string& question,
                                           const ExtractOptions& options, Embedder* embedder = nullptr);

// "Sentence one. [2] Sentence two. [1]"; a fixed sentence when nothing supports it.
std::string extractive_answer_text(const std::vector<ScoredSentence>& sentences);

}  // namespace edgerag::rag
