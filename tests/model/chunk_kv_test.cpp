// Chunk KV capture and placement: keys re-rotated from the position a chunk was
// computed at to the position it is placed at equal the keys a full prefill
// computes there (normal RoPE: stories260K; NeoX: synthetic qwen2), to float
// tolerance for F32 and within one rounding of the type for quantized caches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "model/chunk_kv.h"
#include "model/model.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

void prefill(const Model& m, KvCache& cache, SeqId seq, const std::vector<int32_t>& ids) {
  Batch b;
  const int32_t start = cache.seq_len(seq);
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], start + static_cast<int32_t>(i), seq, i + 1 == ids.size());
  m.forward(b, cache, nullptr);
}

std::vector<int32_t> ids(int32_t n, int32_t first, int32_t n_vocab) {
  std::vector<int32_t> v(n);
  for (int32_t i = 0; i < n; ++i) v[i] = (first + 7 * i) % (n_vocab - 3) + 3;
  return v;
}

// stories260K's cache holding a 9-token prefix followed by a 30-token chunk,
// prefilled as one batch (sequence 1), and the prefix alone (sequence 2).
struct PrefixAndChunk {
  std::unique_ptr<Model> m = Model::load(test::model_path("stories260K.gguf"));
  std::unique_ptr<KvCache> cache = m->make_cache(256);
  PrefixAndChunk() {
    const int32_t V = m->hparams().n_vocab;
    const auto prefix = ids(9, 2, V), chunk = ids(30, 4, V);
    std::vector<int32_t> full = prefix;
    full.insert(full.end(), chunk.begin(), chunk.end());
    prefill(*m, *cache, 1, full);
    prefill(*m, *cache, 2, prefix);
  }
};

// Largest |a - b| over the rows of `layer` (K or V), relative to max(1, max |b|).
float layer_diff(const ChunkKv& a, const ChunkKv& b, int32_t layer, int kv) {
  std::vector<float> ra(a.head_dim), rb(b.head_dim);
  float d = 0, scale = 1;
  for (int32_t h = 0; h < a.n_head_kv; ++h)
    for (int32_t t = 0; t < a.n_tokens; ++t) {
      a.read_row(layer, kv, h, t, ra.data());
      b.read_row(layer, kv, h, t, rb.data());
      for (int32_t i = 0; i < a.head_dim; ++i) {
        d = std::max(d, std::fabs(ra[i] - rb[i]));
        scale = std::max(scale, std::fabs(rb[i]));
      }
    }
  return d / scale;
}

struct Case {
  const char* model;
  const char* kv;
  float tol;  // relative to the largest key
};

class ChunkPlacement : public ::testing::TestWithParam<Case> {};

// Layer 0's keys and values depend only on the token and its position, so the
// chunk computed alone at position 0 and placed after 21 other tokens must
// carry the keys a full prefill of those 21 tokens + the chunk computes there.
TEST_P(ChunkPlacement, ReRotatedKeysEqualKeysComputedAtTheTarget) {
  const Case c = GetParam();
  auto m = Model::load(test::model_path(c.model));
  const int32_t V = m->hparams().n_vocab;
  const KvType type = kv_type_from_name(c.kv);
  const auto filler = ids(21, 5, V), chunk = ids(37, 11, V);
  auto cache = m->make_cache(256, type);
  prefill(*m, *cache, 1, chunk);  // canonical: the chunk alone at 0
  const ChunkKv alone = capture_chunk(*cache, 1, 0, 37);
  EXPECT_EQ(alone.pos, 0);
  std::vector<int32_t> full = filler;
  full.insert(full.end(), chunk.begin(), chunk.end());
  prefill(*m, *cache, 2, full);  // reference: computed at position 21
  prefill(*m, *cache, 3, filler);
  place_chunk(*m, *cache, 3, alone);  // placed at 21
  ASSERT_EQ(cache->seq_len(3), 58);
  const ChunkKv placed = capture_chunk(*cache, 3, 21, 37), computed = capture_chunk(*cache, 2, 21, 37);
  const float dk = layer_diff(placed, computed, 0, 0);
  std::printf("%s %s: layer-0 keys placed vs computed, max |diff| / max |k| = %.3g\n", c.model, c.kv, dk);
  EXPECT_LE(dk, c.tol) << c.model << " " << c.kv;
  EXPECT_LE(layer_diff(placed, computed, 0, 1), type == KvType(DType::F32) ? 0.0f : c.tol);
  // Deeper layers saw other tokens before the chunk: what placement cannot
  // restore (and selective recompute targets).
  EXPECT_GT(layer_diff(placed, computed, m->hparams().n_layer - 1, 1), 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Types, ChunkPlacement,
                         ::testing::Values(Case{"stories260K.gguf", "f32", 2e-6f},
                                           Case{"synth-qwen2-q8_0.gguf", "f32", 2e-6f},
                                           Case{"stories260K.gguf", "f16", 2e-3f},
                                           Case{"synth-qwen2-q8_0.gguf", "q8_0", 2e-2f},
                                           Case{"stories260K.gguf", "int8", 2e-2f},
                                           Case{"synth-qwen2-q8_0.gguf", "int4", 0.25f}));

// A chunk placed at the position it was computed at, after the same tokens,
// is the KV a full prefill holds: the next token's logits are bit-identical.
TEST(ChunkKv, PlacedAfterTheSameContextGivesTheSameLogits) {
  const PrefixAndChunk pc;
  const auto& m = pc.m;
  const auto& cache = pc.cache;
  place_chunk(*m, *cache, 2, capture_chunk(*cache, 1, 9, 30));
  Batch a, b;
  a.add(17, 39, 1, true);
  b.add(17, 39, 2, true);
  const Logits la = m->forward(a, *cache, nullptr), lb = m->forward(b, *cache, nullptr);
  EXPECT_TRUE(std::equal(la.data.begin(), la.data.end(), lb.data.begin()));
}

// Recomputing every token of a placed chunk in a rewrite batch gives the KV of
// a full prefill (each token attends to the rewritten keys before it); with
// n_layers = 2 only the first two layers change.
TEST(ChunkKv, RewriteBatchRecomputesPlacedTokensInContext) {
  for (const char* kv : {"f32", "int8"}) {
    auto m = Model::load(test::model_path("stories260K.gguf"));
    const int32_t V = m->hparams().n_vocab, L = m->hparams().n_layer;
    const KvType type = kv_type_from_name(kv);
    const auto filler = ids(21, 5, V), chunk = ids(37, 11, V);
    auto cache = m->make_cache(256, type);
    prefill(*m, *cache, 1, chunk);
    const ChunkKv alone = capture_chunk(*cache, 1, 0, 37);
    std::vector<int32_t> full = filler;
    full.insert(full.end(), chunk.begin(), chunk.end());
    prefill(*m, *cache, 2, full);
    prefill(*m, *cache, 3, filler);
    place_chunk(*m, *cache, 3, alone);
    const ChunkKv before = capture_chunk(*cache, 3, 21, 37), computed = capture_chunk(*cache, 2, 21, 37);
    Batch rw;
    rw.rewrite = true;
    for (int32_t i = 0; i < 37; ++i) rw.add(chunk[i], 21 + i, 3, false);
    ForwardHooks two;
    two.n_layers = 2;
    m->forward(rw, *cache, nullptr, &two);
    const ChunkKv partial = capture_chunk(*cache, 3, 21, 37);
    EXPECT_LE(layer_diff(partial, computed, 1, 1), type.is_kivi() ? 2e-2f : 1e-5f) << kv;
    EXPECT_EQ(layer_diff(partial, before, L - 1, 1), 0.0f) << kv;
    m->forward(rw, *cache, nullptr);
    const ChunkKv all = capture_chunk(*cache, 3, 21, 37);
    for (int32_t l = 0; l < L; ++l)
      for (int k = 0; k < 2; ++k) EXPECT_LE(layer_diff(all, computed, l, k), type.is_kivi() ? 2e-2f : 1e-5f) << kv;
    // Out of order, or past the cached length: rejected.
    Batch bad;
    bad.rewrite = true;
    bad.add(1, 30, 3, false);
    bad.add(1, 25, 3, false);
    EXPECT_THROW(m->forward(bad, *cache, nullptr), Error);
    Batch past;
    past.rewrite = true;
    past.add(1, 58, 3, false);
    EXPECT_THROW(m->forward(past, *cache, nullptr), Error);
  }
}

TEST(ChunkKv, ReRotationComposesAndInverts) {
  for (const char* file : {"stories260K.gguf", "synth-qwen2-q8_0.gguf"}) {
    auto m = Model::load(test::model_path(file));
    const int64_t n = m->hparams().n_embd_kv();
    std::vector<float> k(n);
    for (int64_t i = 0; i < n; ++i) k[i] = std::sin(0.37f * static_cast<float>(i)) * 2.0f;
    std::vector<float> ab = k, once = k;
    m->rerotate_keys(ab.data(), 1, 300);
    m->rerotate_keys(ab.data(), 1, 211);
    m->rerotate_keys(once.data(), 1, 511);
    std::vector<float> back = once;
    m->rerotate_keys(back.data(), 1, -511);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(ab[i], once[i], 2e-4f) << file << " " << i;
      EXPECT_NEAR(back[i], k[i], 2e-4f) << file << " " << i;
    }
  }
}

TEST(ChunkKv, RejectsAChunkOfAnotherShapeOrType) {
  auto m = Model::load(test::model_path("stories260K.gguf"));
  auto cache = m->make_cache(128);
  prefill(*m, *cache, 1, ids(20, 1, m->hparams().n_vocab));
  ChunkKv c = capture_chunk(*cache, 1, 4, 10);
  auto f16 = m->make_cache(128, DType::F16);
  EXPECT_THROW(place_chunk(*m, *f16, 1, c), Error);
  c.data.pop_back();
  EXPECT_THROW(place_chunk(*m, *cache, 2, c), Error);
  EXPECT_FALSE(cache->has_sequence(2));
  EXPECT_THROW(capture_chunk(*cache, 1, 15, 10), Error);
}

// The KV of a prefix is the same whether the prefix is a whole batch or the
// start of a longer one (placement above relies on it): no kernel may treat a
// token differently because its batch ends there (SwiGLU's tail once did).
TEST(ChunkKv, APrefixsKvDoesNotDependOnWhatFollowsInItsBatch) {
  const PrefixAndChunk pc;
  const ChunkKv a = capture_chunk(*pc.cache, 1, 0, 9), b = capture_chunk(*pc.cache, 2, 0, 9);
  EXPECT_TRUE(a.data == b.data);
}

}  // namespace
}  // namespace edgerag
