// Synthetic model generator: files that load and run, llama-quantize's type
// choices, determinism, generated BPE vocabularies.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <unistd.h>

#include <gtest/gtest.h>

#include "format/gguf.h"
#include "model/bert.h"
#include "model/bert_encoder.h"
#include "model/model.h"
#include "synth/synth.h"
#include "synth/synth_vocab.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag {
namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("edgerag-synth-" + std::to_string(getpid()) + "-" + name)).string();
}

std::string vocab_dir() { return test::golden_path("tokenizer"); }

std::string synth(const std::string& preset, DType type, uint64_t seed = 1, int threads = 2,
                  const std::string& arch = "") {
  const std::string out = tmp_path(fmt::format("{}-{}-{}-{}{}.gguf", preset, dtype_name(type), seed, threads, arch));
  synth_model({.preset = preset, .arch = arch, .type = type, .seed = seed, .n_threads = threads,
               .vocab_dir = vocab_dir()},
              out);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Synth, TensorTypesFollowLlamaQuantize) {
  EXPECT_EQ(synth_tensor_type(DType::Q4_0, "blk.0.attn_q.weight", 2, 64, false), DType::Q4_0);
  EXPECT_EQ(synth_tensor_type(DType::Q4_0, "token_embd.weight", 2, 64, true), DType::Q8_0);  // tied output
  EXPECT_EQ(synth_tensor_type(DType::Q4_0, "blk.0.attn_norm.weight", 1, 64, false), DType::F32);
  EXPECT_EQ(synth_tensor_type(DType::Q8_0, "blk.0.ffn_down.weight", 2, 172, false), DType::F16);  // 172 % 32
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.0.attn_q.weight", 2, 896, false), DType::Q5_0);  // 896 % 256
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.0.ffn_down.weight", 2, 4864, false), DType::Q4_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "output.weight", 2, 2048, true), DType::Q8_0);
  EXPECT_EQ(synth_tensor_type(DType::F16, "token_embd.weight", 2, 64, true), DType::F16);
  EXPECT_EQ(synth_tensor_type(DType::BF16, "blk.0.attn_q.weight", 2, 64, false), DType::BF16);
  EXPECT_EQ(synth_tensor_type(DType::Q5_K, "blk.0.attn_q.weight", 2, 896, false), DType::Q5_1);
  EXPECT_EQ(synth_tensor_type(DType::Q6_K, "blk.0.attn_q.weight", 2, 896, false), DType::Q8_0);
  EXPECT_EQ(synth_tensor_type(DType::Q6_K, "output.weight", 2, 2048, true), DType::Q6_K);
  EXPECT_EQ(synth_tensor_type(DType::Q5_K, "output.weight", 2, 2048, true), DType::Q8_0);
  // Q4_K_M of 16 layers: Q6_K output, attn_v / ffn_down of layers 0-1, 4, 7, 10, 13, 14-15 (use_more_bits).
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "output.weight", 2, 2048, true, 16), DType::Q6_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.1.attn_v.weight", 2, 2048, false, 16), DType::Q6_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.2.ffn_down.weight", 2, 8192, false, 16), DType::Q4_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.4.ffn_down.weight", 2, 8192, false, 16), DType::Q6_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.5.attn_v.weight", 2, 2048, false, 16), DType::Q4_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.14.attn_v.weight", 2, 2048, false, 16), DType::Q6_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.0.attn_q.weight", 2, 2048, false, 16), DType::Q4_K);
  EXPECT_EQ(synth_tensor_type(DType::Q4_K, "blk.0.attn_v.weight", 2, 896, false, 24), DType::Q8_0);  // 896 % 256
  EXPECT_EQ(synth_tensor_type(DType::Q8_0, "position_embd.weight", 2, 384, false), DType::F32);
  EXPECT_EQ(synth_tensor_type(DType::Q8_0, "token_types.weight", 2, 384, false), DType::F32);
}

TEST(Synth, BertFileLoadsAndRunsDeterministically) {
  const std::string a = synth("tiny-bert", DType::F32, 7, 1), b = synth("tiny-bert", DType::F32, 7, 2);
  const std::string c = synth("tiny-bert", DType::F32, 8, 2);
  EXPECT_EQ(slurp(a), slurp(b));  // independent of the thread count
  EXPECT_NE(slurp(a), slurp(c));
  auto m = BertModel::load(a);
  EXPECT_EQ(m->hparams().n_embd, 64);
  EXPECT_EQ(m->hparams().pooling, Pooling::Mean);
  auto tok = Tokenizer::from_gguf(m->gguf());
  EXPECT_EQ(tok->n_vocab(), 30522);
  auto out = m->encode({{{101, 7592, 2088, 102}, {}}}, nullptr);
  ASSERT_EQ(out[0].size(), 64u);
  float norm = 0;
  for (float v : out[0]) norm += v * v;
  EXPECT_TRUE(std::isfinite(norm) && norm > 0.01f);
  for (const auto& p : {a, b, c}) std::filesystem::remove(p);
}

TEST(Synth, QuantizedRerankerHasLlamaQuantizeTypesAndScores) {
  const std::string path = synth("tiny-rerank", DType::Q8_0);
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->tensor("token_embd.weight").type, DType::Q8_0);
  EXPECT_EQ(f->tensor("blk.1.ffn_up.weight").type, DType::Q8_0);
  EXPECT_EQ(f->tensor("position_embd.weight").type, DType::F32);
  EXPECT_EQ(f->tensor("cls.output.weight").type, DType::F32);  // [E, 1] counts as 1-D
  EXPECT_EQ(f->get_int("general.file_type", -1), 7);
  auto m = BertModel::load(path);
  EXPECT_EQ(m->hparams().pooling, Pooling::Rank);
  const auto s = m->encode({{{101, 2054, 102, 7632, 102}, {0, 0, 0, 1, 1}}}, nullptr);
  ASSERT_EQ(s[0].size(), 1u);
  EXPECT_TRUE(std::isfinite(s[0][0]));
  std::filesystem::remove(path);
}

TEST(Synth, ModernBertFileEmbedsLongInputsWithItsTokenizer) {
  const std::string path = synth("tiny-modernbert", DType::Q8_0);
  auto f = GgufFile::open(path);
  EXPECT_EQ(f->get_string("general.architecture"), "modern-bert");
  EXPECT_EQ(f->tensor("blk.1.attn_qkv.weight").type, DType::Q8_0);
  EXPECT_FALSE(f->find_tensor("blk.0.attn_norm.weight"));
  auto enc = Encoder::load(path, {.n_threads = 2});
  const BertHParams& hp = enc->model().hparams();
  EXPECT_EQ(hp.arch, EncoderArch::ModernBert);
  EXPECT_EQ(hp.n_swa, 16);
  EXPECT_EQ(hp.n_ctx, 1024);
  const auto ids = enc->tokenize("Hello world");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 937);  // [CLS]
  EXPECT_EQ(ids.back(), 938);   // [SEP]
  // A text longer than the context is cut to it and still embeds.
  std::string text;
  for (int i = 0; i < 600; ++i) text += "word" + std::to_string(i) + " ";
  EXPECT_EQ(enc->tokenize(text).size(), 1024u);
  const auto emb = enc->embed({text, "Hello world"});
  ASSERT_EQ(emb.size(), 2u);
  float norm = 0;
  for (float v : emb[0]) norm += v * v;
  EXPECT_NEAR(norm, 1.0f, 1e-4);
  std::filesystem::remove(path);
}

void expect_decoder_runs(const std::string& path, int64_t n_vocab) {
  auto m = Model::load(path);
  EXPECT_EQ(m->hparams().n_vocab, n_vocab);
  auto cache = m->make_cache(16);
  Batch batch;
  for (int i = 0; i < 4; ++i) batch.add(100 + i, i, 0, i == 3);
  ThreadPool pool(2);
  const Logits logits = m->forward(batch, *cache, &pool);
  ASSERT_EQ(logits.n_rows(), 1);
  float mx = -INFINITY, mn = INFINITY;
  for (int32_t v = 0; v < n_vocab; ++v) {
    ASSERT_TRUE(std::isfinite(logits.row(0)[v]));
    mx = std::max(mx, logits.row(0)[v]);
    mn = std::min(mn, logits.row(0)[v]);
  }
  EXPECT_GT(mx - mn, 1.0f);  // not degenerate
  EXPECT_LT(mx - mn, 100.0f);
}

TEST(Synth, DecodersLoadAndRunInEveryType) {
  for (const auto& [preset, type] : std::vector<std::pair<std::string, DType>>{
           {"tiny-llama", DType::Q4_0}, {"tiny-qwen2", DType::Q8_0}, {"tiny-qwen3", DType::F16},
           {"tiny-qwen2", DType::Q4_K}}) {
    SCOPED_TRACE(preset + " " + dtype_name(type));
    const std::string path = synth(preset, type);
    auto f = GgufFile::open(path);
    EXPECT_EQ(f->get_string("general.architecture"), preset.substr(5));
    expect_decoder_runs(path, preset == "tiny-llama" ? 32000 : 50257);
    EXPECT_EQ(Tokenizer::from_gguf(*f)->decode(Tokenizer::from_gguf(*f)->encode("Hello world", false)), "Hello world");
    std::filesystem::remove(path);
  }
}

TEST(Synth, ArchOverrideAndBadRequestsAreChecked) {
  const std::string path = synth("tiny-qwen2", DType::F32, 1, 2, "qwen3");
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f->find_tensor("blk.0.attn_q_norm.weight"));
  EXPECT_FALSE(f->find_tensor("blk.0.attn_q.bias"));
  std::filesystem::remove(path);
  EXPECT_THROW(synth("no-such-preset", DType::F32), Error);
  EXPECT_THROW(synth("tiny-bert", DType::F32, 1, 2, "llama"), Error);
  EXPECT_THROW(synth("tiny-bert", DType::F32, 1, 2, "modern-bert"), Error);
  EXPECT_THROW(synth("tiny-llama", DType::Q5_1), Error);
}

TEST(Synth, GeneratedBpeVocabulariesAreConsistent) {
  // style, size (past GPT-2's 50256 regular tokens where the family is larger),
  // special + reserved tokens, end-of-generation token.
  struct Case {
    std::string style;
    int64_t n_vocab, n_special;
    std::string eos;
  };
  for (const Case& c : {Case{"qwen2", 60000, 64, "<|im_end|>"}, Case{"llama3", 60000, 256, "<|eot_id|>"},
                        Case{"smollm", 49152, 3, "<|im_end|>"},
                        Case{"modern-bert", 50368, 88, "[SEP]"}}) {
    SCOPED_TRACE(c.style);
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    write_synth_vocab(w, c.style, c.n_vocab, vocab_dir());
    const std::string path = tmp_path("vocab-" + c.style + ".gguf");
    w.write(path);
    auto f = GgufFile::open(path);
    const auto& tokens = f->get_string_array("tokenizer.ggml.tokens");
    const auto& merges = f->get_string_array("tokenizer.ggml.merges");
    ASSERT_EQ(static_cast<int64_t>(tokens.size()), c.n_vocab);
    // Every regular non-byte token is the result of exactly one merge of two tokens.
    EXPECT_EQ(static_cast<int64_t>(merges.size()), c.n_vocab - c.n_special - 256);
    std::set<std::string> have(tokens.begin(), tokens.end());
    EXPECT_EQ(have.size(), tokens.size());
    for (const auto& m : merges) {
      const auto sp = m.find(' ');
      ASSERT_NE(sp, std::string::npos);
      ASSERT_TRUE(have.count(m.substr(0, sp)) && have.count(m.substr(sp + 1)) &&
                  have.count(m.substr(0, sp) + m.substr(sp + 1)))
          << m;
    }
    auto tok = Tokenizer::from_gguf(*f);
    EXPECT_EQ(tokens[tok->eos_id()], c.eos);
    EXPECT_TRUE(tok->is_eog(tok->eos_id()));
    const std::string text = "Synthetic models tokenize real text, too: 42 words.";
    EXPECT_EQ(tok->decode(tok->encode(text, false)), text);
    std::filesystem::remove(path);
  }
}

}  // namespace
}  // namespace edgerag
