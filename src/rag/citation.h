// Inline citations in an answer: "[n]", also grouped as "[1, 3]" or "[1-2]".
// Markers naming a chunk that was not supplied are removed from the text and
// counted; valid ones are kept as written.
#pragma once
#include <string>
#include <vector>

namespace edgerag::rag {

struct CitationCheck {
  std::string text;          // answer with invalid markers removed
  std::vector<int> cited;    // valid chunk numbers, in order of first mention, unique
  int removed = 0;           // invalid references removed
};

// Valid numbers are 1..n_chunks.
CitationCheck check_citations(const std::string& answer, int n_chunks);

}  // namespace edgerag::rag
