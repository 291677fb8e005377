// Token ids recorded from llama.cpp for the decoder prompts, the BERT
// embedding/rerank inputs and the perplexity text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace edgerag {
namespace {

using test::read_file;

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

const Tokenizer& tokenizer_for(const std::string& model_file) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[model_file];
  if (!t) t = Tokenizer::from_gguf(*GgufFile::open(test::shared_dir() + "/" + model_file));
  return *t;
}

std::string hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(GoldenDecoder, PromptIdsPiecesAndDetokenization) {
  const auto index = read_json(test::golden_path("decoder/index.json"));
  int runs_checked = 0;
  for (const auto& run : index["runs"]) {
    if (!run["model_in_this_set"].get<bool>()) continue;
    const Tokenizer& tok = tokenizer_for(run["model_file"]);
    const std::string model = run["model"];
    EXPECT_EQ(tok.add_bos(), run["add_bos"].get<bool>()) << model;
    EXPECT_EQ(tok.bos_id(), run["bos_id"].get<int32_t>()) << model;
    EXPECT_EQ(tok.eos_id(), run["eos_id"].get<int32_t>()) << model;
    EXPECT_EQ(tok.n_vocab(), run["n_vocab"].get<int32_t>()) << model;
    for (const auto& p : run["prompts"]) {
      const std::string text = p["text"];
      const auto ids = tok.encode(text, /*add_special=*/true, /*parse_special=*/true);
      EXPECT_EQ(ids, p["token_ids"].get<std::vector<int32_t>>()) << model << ": " << text;
      const auto pieces = p["token_pieces"].get<std::vector<std::string>>();
      for (size_t i = 0; i < ids.size() && i < pieces.size(); ++i)
        EXPECT_EQ(tok.token_to_piece(ids[i]), pieces[i]) << model << " token " << ids[i];

      const auto greedy = p["greedy"]["ids"].get<std::vector<int32_t>>();
      const auto pieces_hex = p["greedy"]["pieces_hex"].get<std::vector<std::string>>();
      const auto eog = p["greedy"]["is_eog"].get<std::vector<bool>>();
      std::string text_bytes;
      for (size_t i = 0; i < greedy.size(); ++i) {
        EXPECT_EQ(hex(tok.token_to_piece(greedy[i])), pieces_hex[i]) << model << " token " << greedy[i];
        EXPECT_EQ(tok.is_eog(greedy[i]), eog[i]) << model << " token " << greedy[i];
        text_bytes += tok.token_to_piece(greedy[i]);
      }
      EXPECT_EQ(hex(text_bytes), p["greedy"]["text_hex"].get<std::string>()) << model;
      if (p["greedy"]["text_is_valid_utf8"].get<bool>()) {
        std::vector<int32_t> all = ids;
        all.insert(all.end(), greedy.begin(), greedy.end());
        EXPECT_EQ(tok.decode(all, /*remove_special=*/true), p["detokenized_prompt_plus_greedy"].get<std::string>())
            << model;
      }
    }
    ++runs_checked;
  }
  // stories260K x3, synth-llama-f16, synth-qwen2 x2, synth-qwen3 x2, in two configurations.
  EXPECT_EQ(runs_checked, 16);
}

TEST(GoldenEmbeddings, SentenceAndRerankPairIds) {
  const auto index = read_json(test::golden_path("embeddings/index.json"));
  int checked = 0;
  for (const auto& task : index["tasks"]) {
    const Tokenizer& tok = tokenizer_for(task["model_file"]);
    EXPECT_EQ(tok.cls_id(), 101);
    EXPECT_EQ(tok.sep_id(), 102);
    for (const auto& in : task["inputs"]) {
      const auto expected = in["token_ids"].get<std::vector<int32_t>>();
      if (task["task"] == "embedding") {
        EXPECT_EQ(tok.encode(in["text"].get<std::string>(), true, true), expected) << in["text"];
      } else {
        std::vector<int32_t> types;
        const auto ids = tok.encode_pair(in["query"].get<std::string>(), in["document"].get<std::string>(), &types);
        EXPECT_EQ(ids, expected) << in["query"];
        // Segment 0 runs through the first [SEP], segment 1 after it.
        const size_t first_sep = std::find(expected.begin(), expected.end(), 102) - expected.begin();
        ASSERT_EQ(types.size(), ids.size());
        for (size_t i = 0; i < types.size(); ++i) EXPECT_EQ(types[i], i <= first_sep ? 0 : 1) << i;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST(GoldenPerplexity, WikiTextIdsOfStories260K) {
  const std::string raw = read_file(test::golden_path("perplexity/wiki.test.200lines.raw"));
  const std::string bin = read_file(test::golden_path("perplexity/wiki.test.200lines.stories260K.tokens.i32.bin"));
  std::vector<int32_t> expected(bin.size() / sizeof(int32_t));
  std::memcpy(expected.data(), bin.data(), expected.size() * sizeof(int32_t));
  const auto ids = tokenizer_for("models/stories260K.gguf").encode(raw, /*add_special=*/true);
  ASSERT_EQ(ids.size(), expected.size());
  size_t first_diff = 0;
  while (first_diff < ids.size() && ids[first_diff] == expected[first_diff]) ++first_diff;
  EXPECT_EQ(first_diff, ids.size()) << "first mismatch at token " << first_diff;
}

}  // namespace
}  // namespace edgerag
