// BM25 text normalization in every script (rag/text_fold.h): the folded words
// by hand, index and query tokens identical, search across diacritics and
// compatibility forms, and the rebuild of an index made with the old tokenizer.
#include <gtest/gtest.h>

#include <cctype>

#include "fixtures.h"
#include "rag/bm25.h"
#include "rag/index.h"
#include "rag/sqlite_db.h"
#include "rag/text_fold.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

std::vector<std::string> tokens(std::string_view text) {
  std::vector<std::string> out;
  fold_tokens(text, [&](std::string_view t, size_t, size_t) { out.emplace_back(t); });
  return out;
}

using Words = std::vector<std::string>;

TEST(TextFold, WordsOfEveryScript) {
  // Arabic: harakat (fatha, sukun, damma, shadda, tanwin) and tatweel go.
  EXPECT_EQ(tokens("خَيْرُ"), Words{"خير"});
  EXPECT_EQ(tokens("خـــيـر"), Words{"خير"});
  EXPECT_EQ(tokens("مُحَمَّدٌ رَسُولُ"), (Words{"محمد", "رسول"}));
  // Hebrew points.
  EXPECT_EQ(tokens("שָׁלוֹם"), Words{"שלום"});
  // Vietnamese: stacked accents, and đ.
  EXPECT_EQ(tokens("Việt Nam, Đà Nẵng"), (Words{"viet", "nam", "da", "nang"}));
  // Greek: tonos and case (final sigma folds to sigma).
  EXPECT_EQ(tokens("Αθήνα ΟΔΟΣ οδός"), (Words{"αθηνα", "οδοσ", "οδοσ"}));
  // German sharp s, and compatibility forms (fullwidth, ligature, superscript).
  EXPECT_EQ(tokens("Straße STRASSE"), (Words{"strasse", "strasse"}));
  EXPECT_EQ(tokens("ＡＢＣ１２ ﬁle x²"), (Words{"abc12", "file", "x2"}));
  // Turkish: dotted capital İ and dotless ı both meet plain i.
  EXPECT_EQ(tokens("İSTANBUL istanbul ılık"), (Words{"istanbul", "istanbul", "ilik"}));
  // Latin accents, apostrophes split like before.
  EXPECT_EQ(tokens("Crème brûlée, don't"), (Words{"creme", "brulee", "don", "t"}));
  // CJK: bigrams over runs without spaces; one character stays one token.
  EXPECT_EQ(tokens("東京都"), (Words{"東京", "京都"}));
  EXPECT_EQ(tokens("猫 カタカナ"), (Words{"猫", "カタ", "タカ", "カナ"}));
  EXPECT_EQ(tokens("GPU上"), (Words{"gpu", "上"}));
  // Indic vowel signs are parts of letters, not diacritics: kept.
  EXPECT_EQ(tokens("किताब"), Words{"किताब"});
  // Zero-width joiners and soft hyphens do not split a word; invalid bytes do.
  EXPECT_EQ(tokens("co\u00ADoperate"), Words{"cooperate"});
  EXPECT_EQ(tokens("ab\xff" "cd"), (Words{"ab", "cd"}));
  EXPECT_TRUE(tokens(" \t,.;!").empty());
}

TEST(TextFold, AsciiWordsAreLowercasedRunsOfLettersAndDigits) {
  // Every printable ASCII character and some UTF-8 around them: the ASCII
  // words must be exactly the runs of [A-Za-z0-9], lowercased (reference by hand).
  std::string text;
  for (int c = 1; c < 128; ++c) {
    text += static_cast<char>(c);
    text += c % 3 ? "Ab9" : " ";
  }
  std::string expected_joined, got_joined, word;
  for (char c : text + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      expected_joined += word + '|';
      word.clear();
    }
  }
  for (const auto& t : tokens(text)) got_joined += t + '|';
  EXPECT_EQ(got_joined, expected_joined);
  // A mark or a non-ASCII letter inside a word keeps it one word.
  EXPECT_EQ(tokens("Cafe\u0301 naïve,ÉTÉ"), (Words{"cafe", "naive", "ete"}));
}

TEST(TextFold, FoldingIsIdempotent) {
  for (const char* text : {"خَيْرُ", "שָׁלוֹם", "Việt Nam", "Αθήνα", "Straße", "İSTANBUL ılık", "東京都に住む",
                           "ＡＢＣ１２", "किताब", "Crème"})
    for (const std::string& t : tokens(text)) EXPECT_EQ(tokens(t), Words{t}) << text;
}

TEST(TextFold, QueryTermsEqualTheIndexTokenizerChain) {
  Db db(":memory:", true);
  register_bm25(db.handle());
  for (bool stemming : {false, true}) {
    TokenizerChain chain(db.handle(), fts_tokenizer_spec(stemming, "english"));
    for (const char* text : {"The خَيْرُ of Straße", "İSTANBUL and Việt Nam", "東京都の猫 ＡＢＣ", "Αθήνα"}) {
      std::vector<std::string> indexed, queried;
      chain.tokenize(text, false, [&](std::string_view s) { indexed.emplace_back(s); });
      for (const std::string& term : query_terms(text, "english"))
        chain.tokenize(term, true, [&](std::string_view s) { queried.emplace_back(s); });
      EXPECT_EQ(queried, indexed) << text;
    }
  }
}

std::vector<TextDocument> multilingual_corpus() {
  return {{"ar", "", "قال: خَيْرُ الكلامِ ما قَلَّ ودَلَّ."},
          {"he", "", "שָׁלוֹם עֲלֵיכֶם"},
          {"vi", "", "Thành phố Hồ Chí Minh ở Việt Nam."},
          {"el", "", "Η Αθήνα είναι η πρωτεύουσα."},
          {"de", "", "Die Hauptstraße ist gesperrt."},
          {"tr", "", "İSTANBUL BOĞAZI"},
          {"ja", "", "東京都に住んでいます。"},
          {"en", "", "Full-width ＧＰＵ kernels."}};
}

std::string top_key(Index& idx, const std::string& query) {
  SearchOptions o;
  o.mode = SearchMode::Bm25;
  auto r = idx.search(query, o);
  return r.hits.empty() ? "" : r.hits[0].provenance.path;
}

void expect_multilingual_hits(Index& idx) {
  EXPECT_EQ(top_key(idx, "خير"), "ar");
  EXPECT_EQ(top_key(idx, "شالوم שלום"), "he");
  EXPECT_EQ(top_key(idx, "viet nam"), "vi");
  EXPECT_EQ(top_key(idx, "ΑΘΗΝΑ"), "el");
  EXPECT_EQ(top_key(idx, "hauptstrasse"), "de");
  EXPECT_EQ(top_key(idx, "istanbul"), "tr");
  EXPECT_EQ(top_key(idx, "東京"), "ja");
  EXPECT_EQ(top_key(idx, "gpu"), "en");
}

TEST(TextFold, SearchMatchesAcrossDiacriticsAndForms) {
  test::TempDir t;
  IndexOptions o;
  o.writable = true;
  auto idx = Index::open(t / "idx", o);
  idx->ingest_texts(multilingual_corpus(), {});
  expect_multilingual_hits(*idx);
  // The exhaustive FTS5 scorer sees the same tokens as the postings.
  SearchOptions exact;
  exact.mode = SearchMode::Bm25;
  exact.bm25_exhaustive = true;
  EXPECT_EQ(idx->search("خير", exact).hits.at(0).provenance.path, "ar");
}

TEST(TextFold, AnIndexWithTheOldTokenizerIsRebuiltOrRefused) {
  test::TempDir t;
  IndexOptions o;
  o.writable = true;
  Index::open(t / "idx", o)->ingest_texts(multilingual_corpus(), {});
  {  // What an index made before the fold tokenizer holds.
    Db db(t / "idx/index.sqlite", true);
    register_bm25(db.handle());
    db.exec(
        "DROP TABLE chunks_fts; CREATE VIRTUAL TABLE chunks_fts USING fts5(text, headings, content='chunks', "
        "content_rowid='id', tokenize='porter stopwords unicode61 remove_diacritics 2'); "
        "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild'); DELETE FROM meta WHERE key = 'text_tokenizer'; "
        "DROP TABLE bm25_stats; DROP TABLE bm25_terms; DROP TABLE bm25_skips; DROP TABLE bm25_data;");
  }
  try {
    Index::open(t / "idx");
    ADD_FAILURE() << "a read-only open of an old index must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("older text normalization"), std::string::npos) << e.what();
  }
  auto idx = Index::open(t / "idx", o);  // writable: rebuilt from the stored chunks
  expect_multilingual_hits(*idx);
  idx.reset();
  expect_multilingual_hits(*Index::open(t / "idx"));
}

}  // namespace
}  // namespace edgerag::rag
