// llama.cpp's tokenizer test vectors (tests/test-tokenizer-0): every string of
// the three vocabularies must tokenize to exactly the recorded ids.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace edgerag {
namespace {

using test::read_file;

struct Fixture {
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> expected;
};

Fixture load_fixture(const std::string& vocab) {
  const std::string base = test::golden_path("tokenizer/ggml-vocab-" + vocab + ".gguf");
  Fixture fx;
  const std::string inp = read_file(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0; pos < inp.size();) {
    const size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) break;
    fx.inputs.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  std::istringstream out(read_file(base + ".out"));
  for (std::string line; std::getline(out, line);) {
    std::istringstream ids(line);
    fx.expected.emplace_back();
    for (int32_t id; ids >> id;) fx.expected.back().push_back(id);
  }
  return fx;
}

std::unique_ptr<Tokenizer> open_vocab(const std::string& vocab) {
  auto f = GgufFile::open(test::golden_path("tokenizer/ggml-vocab-" + vocab + ".gguf"));
  return Tokenizer::from_gguf(*f);
}

class VocabFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabFixture, EveryStringMatchesLlamaCpp) {
  const Fixture fx = load_fixture(GetParam());
  ASSERT_EQ(fx.inputs.size(), 46u);
  ASSERT_EQ(fx.expected.size(), fx.inputs.size());
  auto tok = open_vocab(GetParam());
  int mismatches = 0;
  for (size_t i = 0; i < fx.inputs.size(); ++i) {
    const auto ids = tok->encode(fx.inputs[i], /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, fx.expected[i]) << GetParam() << " string " << i << ": '" << fx.inputs[i] << "'";
    mismatches += ids != fx.expected[i];
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Vocabs, VocabFixture, ::testing::Values("llama-spm", "gpt-2", "bert-bge"));

}  // namespace
}  // namespace edgerag
