// Search-text normalization for BM25, shared by indexing (the "fold" FTS5
// tokenizer) and queries (rag::query_terms), so both always see the same tokens:
//  * words are runs of letters, digits, private-use characters, combining marks
//    and format characters (a mark or a zero-width joiner never splits a word);
//  * each word is folded: Unicode NFKC with full case folding (ß -> ss, fullwidth
//    and ligature forms -> plain), diacritics removed (Latin/Greek/Cyrillic accents,
//    Hebrew points, Arabic harakat; Indic and Thai vowel signs are letters' parts
//    and stay), Arabic tatweel removed, Turkish dotless ı -> i, Vietnamese đ -> d;
//  * runs of Han, Hiragana and Katakana (written without spaces) become
//    overlapping bigrams (a lone character stays one token), as Lucene's CJK
//    analyzer indexes them.
// Folding a token again gives the same token.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace edgerag::rag {

// Version of this normalization; indexes record it and are rebuilt when it changes.
inline constexpr int kTextFoldVersion = 1;

// Calls `token(folded, begin, end)` for every token of `text`, in order; begin/end
// are the byte range of the word it came from. Invalid UTF-8 bytes separate words.
void fold_tokens(std::string_view text, const std::function<void(std::string_view, size_t, size_t)>& token);

// One word folded (no splitting, no bigrams).
std::string fold_word(std::string_view word);

}  // namespace edgerag::rag
