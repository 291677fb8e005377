// llama.cpp's tokenizer test vectors (tests/test-tokenizer-0): every string of
// the three vocabularies, and of the ModernBERT model's (golden README §9.2),
// must tokenize to exactly the recorded ids.
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

// A vocabulary (GGUF file) and its test vectors (`<vectors>.inp` / `.out`).
struct VocabCase {
  const char* gguf;
  const char* vectors;
};

std::ostream& operator<<(std::ostream& os, const VocabCase& c) { return os << c.gguf; }

Fixture load_fixture(const std::string& base) {
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

class VocabFixture : public ::testing::TestWithParam<VocabCase> {};

TEST_P(VocabFixture, EveryStringMatchesLlamaCpp) {
  const Fixture fx = load_fixture(test::shared_dir() + "/" + GetParam().vectors);
  ASSERT_EQ(fx.inputs.size(), 46u);
  ASSERT_EQ(fx.expected.size(), fx.inputs.size());
  auto tok = Tokenizer::from_gguf(*GgufFile::open(test::shared_dir() + "/" + GetParam().gguf));
  int mismatches = 0;
  for (size_t i = 0; i < fx.inputs.size(); ++i) {
    const auto ids = tok->encode(fx.inputs[i], /*add_special=*/false, /*parse_special=*/false);
    EXPECT_EQ(ids, fx.expected[i]) << GetParam() << " string " << i << ": '" << fx.inputs[i] << "'";
    mismatches += ids != fx.expected[i];
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Vocabs, VocabFixture,
    ::testing::Values(VocabCase{"golden/tokenizer/ggml-vocab-llama-spm.gguf", "golden/tokenizer/ggml-vocab-llama-spm.gguf"},
                      VocabCase{"golden/tokenizer/ggml-vocab-gpt-2.gguf", "golden/tokenizer/ggml-vocab-gpt-2.gguf"},
                      VocabCase{"golden/tokenizer/ggml-vocab-bert-bge.gguf", "golden/tokenizer/ggml-vocab-bert-bge.gguf"},
                      VocabCase{"models/synth-modernbert-embed.gguf", "golden/embeddings-modernbert/tokenizer-tests"}));

}  // namespace
}  // namespace edgerag
