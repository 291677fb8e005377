// Whole-model quantization of stories260K: tensor-type rules, the GGUF round
// trip, and that AWQ's scale folding leaves the model's function unchanged.
#include "quant/model_quantizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "format/gguf.h"
#include "model/model.h"
#include "quant/awq_block.h"
#include "quant/calib.h"
#include "quant/rtn.h"
#include "tensor/sparse.h"
#include "test_paths.h"
#include "util/error.h"

using namespace edgerag;
using namespace edgerag::quant;

namespace {

std::string stories() { return test::model_path("stories260K.gguf"); }
std::string calib_text() { return test::golden_path("perplexity/wiki.test.200lines.raw"); }
std::string tmp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// Logits of a fixed 24-token prompt.
std::vector<float> logits(const std::string& path) {
  auto m = Model::load(path);
  Batch b;
  for (int i = 0; i < 24; ++i) b.add(i == 0 ? 1 : 20 + 13 * i % 400, i, 0, true);
  auto cache = m->make_cache(32);
  return m->forward(b, *cache, nullptr).data;
}

double argmax_agreement(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t nv = 512, rows = a.size() / nv;
  int same = 0;
  for (size_t r = 0; r < rows; ++r)
    same += std::max_element(a.begin() + r * nv, a.begin() + (r + 1) * nv) - a.begin() ==
            std::max_element(b.begin() + r * nv, b.begin() + (r + 1) * nv) - b.begin();
  return static_cast<double>(same) / rows;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

}  // namespace

TEST(ModelQuantizer, RtnRulesAndRoundTrip) {
  QuantizeOptions opt;
  opt.method = "rtn";
  const std::string out = tmp("stories-rtn.gguf");
  const QuantizeSummary s = quantize_model(stories(), out, opt);
  auto src = GgufFile::open(stories());
  auto q = GgufFile::open(out);
  ASSERT_EQ(q->tensors().size(), src->tensors().size());
  EXPECT_EQ(q->get_string("tokenizer.ggml.model"), src->get_string("tokenizer.ggml.model"));
  EXPECT_EQ(q->get_int("general.file_type", -1), 2);  // mostly Q4_0
  for (const auto& t : q->tensors()) {
    if (t.n_dims == 1) EXPECT_EQ(t.type, DType::F32) << t.name;
    else if (t.name == "token_embd.weight" || t.name == "output.weight") EXPECT_EQ(t.type, DType::Q8_0) << t.name;
    else if (t.name.find("ffn_down") != std::string::npos) EXPECT_EQ(t.type, DType::F16) << t.name;  // 172 columns
    else EXPECT_EQ(t.type, DType::Q4_0) << t.name;
  }
  // Bytes on disk are exactly what the matrix quantizer produces.
  const auto& wq = src->tensor("blk.2.attn_q.weight");
  std::vector<float> w(wq.n_elements());
  dequantize_row(DType::F32, wq.data, w.data(), wq.n_elements());
  const auto ref = quantize_rtn(Scheme::of(DType::Q4_0, false), w.data(), wq.ne[1], wq.ne[0], nullptr);
  const auto& got = q->tensor("blk.2.attn_q.weight");
  ASSERT_EQ(got.nbytes, ref.data.size());
  EXPECT_EQ(0, std::memcmp(got.data, ref.data.data(), got.nbytes));
  EXPECT_GT(s.bits_per_weight(), 4.5);
  EXPECT_LT(s.bits_per_weight(), 10.0);
  // The quantized model runs and mostly predicts what the original does.
  EXPECT_GT(argmax_agreement(logits(stories()), logits(out)), 0.8);
}

TEST(ModelQuantizer, AwqFoldingPreservesFunctionAt8Bits) {
  // At 8 bits the rounding is negligible, so any error in folding 1/s into the
  // norms and producer rows would show up directly in the logits.
  const auto base = logits(stories());
  QuantizeOptions rtn;
  rtn.bits = 8;
  quantize_model(stories(), tmp("stories-rtn8.gguf"), rtn);
  const double rtn_diff = max_abs_diff(base, logits(tmp("stories-rtn8.gguf")));
  EXPECT_LT(rtn_diff, 0.6);  // Q8_0 weights and activations (README 7.5: <= 0.6)
  for (const char* method : {"awq", "gptq"}) {
    QuantizeOptions opt;
    opt.method = method;
    opt.bits = 8;
    opt.calib_file = calib_text();
    opt.calib_tokens = 512;
    opt.awq.verify = false;  // fold every kind of scaling, whatever it does to the loss
    const std::string out = tmp(std::string("stories-") + method + "8.gguf");
    const auto s = quantize_model(stories(), out, opt);
    EXPECT_EQ(s.calib_tokens, 512 + 3);  // + a BOS per 256-token sequence
    EXPECT_LT(max_abs_diff(base, logits(out)), 0.6) << method << " (RTN " << rtn_diff << ")";
  }
}

TEST(ModelQuantizer, AwqBlocksMatchTheEngine) {
  // AWQ judges scales on attention / MLP block outputs it computes itself; they
  // must be the engine's: the attention heads equal the captured input of
  // attn_output and the MLP output equals ffn_down applied to its captured input.
  auto model = Model::load(stories());
  const HParams& hp = model->hparams();
  ThreadPool pool(2);
  const Calibration c = Calibration::run(*model, test::read_file(calib_text()), 300, 128, &pool);
  ASSERT_EQ(c.seq_lens().size(), 3u);
  auto floats = [&](const std::string& name) {
    const auto& t = model->gguf().tensor(name);
    std::vector<float> v(t.n_elements());
    dequantize_row(t.type, t.data, v.data(), t.n_elements());
    return v;
  };
  for (int l = 0; l < hp.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const auto wq = floats(b + "attn_q.weight"), wk = floats(b + "attn_k.weight"), wv = floats(b + "attn_v.weight"),
               wo = floats(b + "attn_output.weight");
    const InputStats* in = c.find(b + "attn_q.weight");
    ASSERT_NE(in, nullptr);
    ASSERT_EQ(in->n, c.tokens());
    const auto heads = attention_heads(hp, {wq.data(), wk.data(), wv.data(), wo.data()}, in->rows.data(),
                                       c.seq_lens(), &pool);
    EXPECT_LT(max_abs_diff(heads, c.find(b + "attn_output.weight")->rows), 1e-4) << b;
    const auto gate = floats(b + "ffn_gate.weight"), up = floats(b + "ffn_up.weight"),
               down = floats(b + "ffn_down.weight");
    const InputStats* down_in = c.find(b + "ffn_down.weight");
    const auto mlp = mlp_block(hp, gate.data(), up.data(), down.data(), c.find(b + "ffn_gate.weight")->rows.data(),
                               c.tokens(), &pool);
    EXPECT_LT(max_abs_diff(mlp, linear_f32(down.data(), hp.n_embd, hp.n_ff, down_in->rows.data(), c.tokens(), &pool)),
              1e-4)
        << b;
  }
}

TEST(ModelQuantizer, VerifiedAwqNeverFitsCalibrationWorseThanRtn) {
  // At 4 bits AWQ keeps a kind of scaling only where the quantized model's
  // calibration loss drops, so it ends at or below RTN of the same storage type.
  QuantizeOptions awq;
  awq.method = "awq";
  awq.calib_file = calib_text();
  awq.calib_tokens = 512;
  QuantizeOptions rtn = awq;
  rtn.method = "rtn";
  rtn.asymmetric = 1;  // AWQ's default: the same Q4_1 blocks
  quantize_model(stories(), tmp("stories-awq4.gguf"), awq);
  quantize_model(stories(), tmp("stories-rtn4a.gguf"), rtn);
  ThreadPool pool(2);
  const Calibration c = Calibration::run(*Model::load(stories()), test::read_file(calib_text()), 512, 256, &pool);
  const double base = c.loss(*Model::load(stories()), &pool);
  const double l_rtn = c.loss(*Model::load(tmp("stories-rtn4a.gguf")), &pool);
  const double l_awq = c.loss(*Model::load(tmp("stories-awq4.gguf")), &pool);
  EXPECT_GT(base, 0.0);
  EXPECT_LT(base, std::log(512.0));  // better than a uniform guess over the 512-token vocabulary
  EXPECT_LE(l_awq, l_rtn);
}

TEST(ModelQuantizer, LowBitTypesAndGroupFallback) {
  struct Case { const char* method; int bits, group; DType attn; };
  for (Case c : {Case{"nf4", 4, 64, DType::ER_NF4}, Case{"hqq", 3, 128, DType::ER_Q3_G64},
                 Case{"rtn", 2, 64, DType::ER_Q2_G64}, Case{"hqq", 4, 32, DType::Q4_1}}) {
    QuantizeOptions opt;
    opt.method = c.method;
    opt.bits = c.bits;
    opt.group = c.group;
    const std::string out = tmp("stories-low.gguf");
    const auto s = quantize_model(stories(), out, opt);
    auto q = GgufFile::open(out);
    EXPECT_EQ(q->tensor("blk.0.attn_k.weight").type, c.attn) << c.method << c.bits;
    for (const auto& t : s.tensors) {
      if (t.name == "blk.0.attn_k.weight" && c.group == 128) {
        EXPECT_NE(t.note.find("group 64"), std::string::npos);
      }
    }
    auto m = Model::load(out);  // loads and every type dequantizes
    EXPECT_EQ(m->hparams().n_layer, 5);
  }
}

TEST(ModelQuantizer, SpqrSideTensorsAreCountedAsStored) {
  // 3-bit / group 64 with 1% outliers: every quantized matrix has its format-3
  // side tensor (one count byte per 64-wide row, 24 bits per outlier), and the
  // effective bits are those bytes plus ER_Q3_G64's 3.5 bits, worked out here
  // from the file itself.
  QuantizeOptions opt;
  opt.method = "spqr";
  opt.bits = 3;
  opt.group = 64;
  opt.calib_file = calib_text();
  opt.calib_tokens = 512;
  const std::string out = tmp("stories-spqr.gguf");
  const QuantizeSummary s = quantize_model(stories(), out, opt);
  auto q = GgufFile::open(out);
  size_t side_bytes = 0;
  int64_t params = 0, nnz = 0;
  for (const auto& t : q->tensors()) {
    if (t.type != DType::ER_Q3_G64) continue;
    const GgufTensor* o = q->find_tensor(t.name + kOutlierSuffix);
    ASSERT_NE(o, nullptr) << t.name;
    EXPECT_EQ(o->type, DType::I8);
    const CsrOutliers v = CsrOutliers::view(o->type, o->data, o->nbytes, t.ne[1], t.ne[0]);
    EXPECT_EQ(o->data[0], kOutlierFormat);
    EXPECT_EQ(static_cast<int64_t>(o->nbytes), 4 + 3 * v.nnz() + t.ne[1]) << t.name;
    params += t.n_elements();
    side_bytes += o->nbytes;
    nnz += v.nnz();
  }
  EXPECT_EQ(params, s.method_params);
  EXPECT_EQ(nnz, s.n_outliers);
  EXPECT_EQ(side_bytes, s.outlier_bytes);
  EXPECT_NEAR(s.outlier_share(), 0.01, 0.001);
  EXPECT_DOUBLE_EQ(s.method_bits(), 3.5 + 8.0 * static_cast<double>(side_bytes) / static_cast<double>(params));
  EXPECT_LT(s.method_bits(), 3.9);  // 3.5 + 0.125 (counts) + 0.24 (1% x 24 bits)
  // The model adds them back: its loss on the calibration text (from 512 tokens)
  // is clearly below that of the same file without its side tensors (the dense
  // part alone) and of GPTQ with the same dense type.
  auto rewrite = [&](const std::string& path, auto edit) {  // copy of `out`; edit(name, bytes) false drops a tensor
    GgufWriter w;
    w.copy_metadata(*q);
    for (const auto& t : q->tensors()) {
      std::vector<uint8_t> bytes(t.data, t.data + t.nbytes);
      if (edit(t.name, bytes)) w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne, t.ne + t.n_dims), bytes.data(), bytes.size());
    }
    w.write(path);
  };
  rewrite(tmp("stories-spqr-dense.gguf"), [](const std::string& name, auto&) { return !name.ends_with(kOutlierSuffix); });
  opt.method = "gptq";
  quantize_model(stories(), tmp("stories-gptq3.gguf"), opt);
  ThreadPool pool(2);
  const Calibration c = Calibration::run(*Model::load(stories()), test::read_file(calib_text()), 512, 256, &pool);
  const double base = c.loss(*Model::load(stories()), &pool), spqr = c.loss(*Model::load(out), &pool);
  const double dense = c.loss(*Model::load(tmp("stories-spqr-dense.gguf")), &pool);
  const double gptq = c.loss(*Model::load(tmp("stories-gptq3.gguf")), &pool);
  // Measured: 4.566, 4.726, 4.802, 4.807: the side tensors remove a third of the excess loss.
  EXPECT_LT(spqr - base, 0.8 * (dense - base)) << "base " << base << " spqr " << spqr << " dense alone " << dense;
  EXPECT_LT(spqr - base, 0.8 * (gptq - base)) << "spqr " << spqr << " gptq " << gptq;
  // A count byte raised past the entries stored: the load fails naming the tensor.
  rewrite(tmp("stories-spqr-bad.gguf"), [](const std::string& name, std::vector<uint8_t>& bytes) {
    if (name == std::string("blk.1.attn_v.weight") + kOutlierSuffix) bytes.back() += 64;
    return true;
  });
  try {
    Model::load(tmp("stories-spqr-bad.gguf"));
    ADD_FAILURE() << "a corrupt side tensor loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.1.attn_v.weight.outliers"), std::string::npos) << e.what();
  }
}

TEST(ModelQuantizer, RejectsBadOptions) {
  QuantizeOptions opt;
  opt.method = "gptq";  // no calibration text
  EXPECT_THROW(quantize_model(stories(), tmp("x.gguf"), opt), Error);
  opt.method = "magic";
  EXPECT_THROW(quantize_model(stories(), tmp("x.gguf"), opt), Error);
  opt.method = "rtn";
  opt.bits = 6;
  EXPECT_THROW(quantize_model(stories(), tmp("x.gguf"), opt), Error);
  opt.bits = 4;
  EXPECT_THROW(quantize_model(tmp("missing.gguf"), tmp("x.gguf"), opt), Error);
}
