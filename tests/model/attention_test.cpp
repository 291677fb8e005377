// Tiled attention (model/attention.h) against its slow scalar reference over
// odd shapes: contexts that are not multiples of the key tile or the cache
// block, one-token batches, GQA ratios 1/2/7, every KV cache type, several
// threads and SIMD levels, key ranges split across threads, shared prefix blocks;
// and a row's bits do not depend on the rows and key tiles sharing its kernel call.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "model/attention.h"
#include "model/attention_kernels.h"
#include "tensor/cpu_features.h"
#include "tensor/fp16.h"
#include "util/thread_pool.h"

namespace edgerag {
namespace {

struct Shape {
  int32_t n_head = 4, n_head_kv = 2, head_dim = 64, block_size = 16, n_layer = 2;
};

std::vector<float> random_rows(uint32_t seed, size_t n) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> r(n);
  for (float& x : r) x = nd(rng);
  return r;
}

// The values rounded to F16 (so an F16 copy holds them exactly).
std::vector<float> f16_exact(std::vector<float> x) {
  for (float& v : x) v = fp16_to_fp32(fp32_to_fp16(v));
  return x;
}

KvCache make_cache(const Shape& s, KvType type, int32_t n_blocks) {
  KvCacheConfig c;
  c.n_layer = s.n_layer;
  c.n_head_kv = s.n_head_kv;
  c.head_dim = s.head_dim;
  c.block_size = s.block_size;
  c.type = type;
  c.budget_bytes = c.block_bytes() * n_blocks;
  return KvCache(c);
}

// Writes the batch's K/V rows (deterministic per sequence, position, layer and head).
void write_batch(KvCache& kv, const Shape& s, const Batch& batch) {
  kv.reserve_batch(batch);
  for (const BatchToken& t : batch.tokens)
    for (int32_t l = 0; l < s.n_layer; ++l)
      for (int32_t h = 0; h < s.n_head_kv; ++h) {
        const uint32_t seed = static_cast<uint32_t>((((t.seq * 4096 + t.pos) * s.n_layer + l) * s.n_head_kv + h) * 2);
        const int32_t b = kv.block_of(t.seq, t.pos), slot = t.pos % s.block_size;
        kv.write_k(b, l, h, slot, random_rows(seed, s.head_dim).data());
        kv.write_v(b, l, h, slot, random_rows(seed + 1, s.head_dim).data());
      }
}

void commit(KvCache& kv, const Batch& batch) {
  std::vector<std::pair<SeqId, int32_t>> counts;
  for (const BatchToken& t : batch.tokens) {
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == t.seq; });
    if (it == counts.end()) counts.emplace_back(t.seq, 1);
    else ++it->second;
  }
  for (const auto& [seq, n] : counts) kv.commit(seq, n);
}

// chunks: (sequence, new tokens); their tokens are interleaved in the batch.
Batch interleaved(const KvCache& kv, const std::vector<std::pair<SeqId, int32_t>>& chunks) {
  Batch b;
  for (int32_t i = 0;; ++i) {
    bool any = false;
    for (const auto& [seq, n] : chunks)
      if (i < n) b.add(0, kv.seq_len(seq) + i, seq, false), any = true;
    if (!any) return b;
  }
}

void fill(KvCache& kv, const Shape& s, SeqId seq, int32_t n_tokens) {
  const Batch b = interleaved(kv, {{seq, n_tokens}});
  write_batch(kv, s, b);
  commit(kv, b);
}

// Writes the batch, then checks every layer's attention at every SIMD level and
// thread count against the reference; commits.
void check_batch(KvCache& kv, const Shape& s, const Batch& batch, std::vector<int> threads = {1, 3, 8}) {
  write_batch(kv, s, batch);
  const size_t width = static_cast<size_t>(s.n_head) * s.head_dim;
  const std::vector<float> q = random_rows(7, batch.size() * width);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const Isa saved = active_isa();
  for (int32_t layer = 0; layer < s.n_layer; ++layer) {
    std::vector<float> ref(q.size()), got(q.size());
    attention_reference(kv, batch, layer, q.data(), s.n_head, scale, ref.data());
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (set_isa(isa) != isa) continue;
      for (int n_threads : threads) {
        std::unique_ptr<ThreadPool> pool = n_threads > 1 ? std::make_unique<ThreadPool>(n_threads) : nullptr;
        std::fill(got.begin(), got.end(), NAN);
        attention(kv, batch, layer, q.data(), s.n_head, scale, got.data(), pool.get());
        float worst = 0;
        for (size_t i = 0; i < q.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref[i]));  // NaN fails below
        ASSERT_LE(worst, 2e-5f) << "kv " << kv.config().type.name() << " layer " << layer << " isa " << isa_name(isa)
                                << " threads " << n_threads;
        ASSERT_TRUE(std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); }));
      }
    }
  }
  set_isa(saved);
  commit(kv, batch);
}

std::vector<KvType> all_kv_types() {
  return {DType::F32, DType::F16, DType::Q8_0, KvType::kivi(8), KvType::kivi(4)};
}

TEST(Attention, EveryKvTypeAndGqaRatioAtOddLengths) {
  for (const KvType& type : all_kv_types()) {
    for (int32_t group : {1, 2, 7}) {
      Shape s;
      s.n_head = 2 * group;
      KvCache kv = make_cache(s, type, 64);
      fill(kv, s, 0, 37);
      fill(kv, s, 2, 15);
      // A prefill chunk crossing two block boundaries, a fresh one-token
      // sequence and a decode step finishing a block, in one batch.
      check_batch(kv, s, interleaved(kv, {{0, 21}, {1, 1}, {2, 1}}));
      check_batch(kv, s, interleaved(kv, {{0, 1}, {1, 1}, {2, 1}}));  // decode steps
      check_batch(kv, s, interleaved(kv, {{1, 33}}), {1, 2});          // continues at position 1
    }
  }
}

TEST(Attention, HeadDimsOffTheVectorWidth) {
  for (int32_t hd : {40, 20, 8}) {  // 32 + 8 columns; no SIMD kernel (scalar); one vector
    for (const KvType& type : {KvType(DType::F32), KvType(DType::F16), KvType::kivi(8)}) {
      Shape s;
      s.head_dim = hd;
      KvCache kv = make_cache(s, type, 32);
      fill(kv, s, 0, 19);
      check_batch(kv, s, interleaved(kv, {{0, 30}, {1, 3}}), {1, 2});
    }
  }
}

TEST(Attention, BlockSizesSmallerAndLargerThanTheKeyTile) {
  for (int32_t bs : {8, 32, 48}) {
    for (const KvType& type : {KvType(DType::F32), KvType::kivi(4)}) {
      Shape s;
      s.block_size = bs;
      KvCache kv = make_cache(s, type, 64);
      fill(kv, s, 0, 53);
      check_batch(kv, s, interleaved(kv, {{0, 40}, {1, 17}}), {1, 2});
      check_batch(kv, s, interleaved(kv, {{0, 1}, {1, 1}}), {1, 2});
    }
  }
}

TEST(Attention, LongDecodeSplitsKeysAcrossThreads) {
  // One sequence and 2 KV heads leave most of 8 or 64 threads idle unless the
  // 700 keys are split into ranges and merged.
  for (const KvType& type : {KvType(DType::F32), KvType::kivi(8)}) {
    Shape s;
    s.n_head = 14;
    s.n_layer = 1;
    KvCache kv = make_cache(s, type, 64);
    fill(kv, s, 0, 700);
    check_batch(kv, s, interleaved(kv, {{0, 1}}), {2, 8, 64});
    check_batch(kv, s, interleaved(kv, {{0, 3}}), {8});
  }
}

TEST(Attention, ATokensResultDoesNotDependOnItsBatch) {
  // A decode step alone (its keys split across 8 threads) and batched with a
  // prefill chunk of another sequence: bit for bit the same.
  Shape s;
  s.n_head = 14;
  s.n_layer = 1;
  KvCache kv = make_cache(s, DType::F32, 64);
  fill(kv, s, 0, 700);
  const Batch both = interleaved(kv, {{1, 20}, {0, 1}});
  const Batch alone = interleaved(kv, {{0, 1}});
  write_batch(kv, s, both);
  const size_t width = static_cast<size_t>(s.n_head) * s.head_dim;
  const std::vector<float> q = random_rows(3, both.size() * width);
  const size_t row = 1;  // the decode token's index in `both`
  ASSERT_EQ(both.tokens[row].seq, 0);
  ThreadPool pool(8);
  std::vector<float> out_both(q.size()), out_alone(width);
  attention(kv, both, 0, q.data(), s.n_head, 0.125f, out_both.data(), &pool);
  attention(kv, alone, 0, q.data() + row * width, s.n_head, 0.125f, out_alone.data(), &pool);
  EXPECT_TRUE(std::equal(out_alone.begin(), out_alone.end(), out_both.begin() + row * width));
}

TEST(Attention, SequencesSharingPrefixBlocks) {
  for (const KvType& type : all_kv_types()) {
    Shape s;
    KvCache kv = make_cache(s, type, 32);
    fill(kv, s, 0, 40);
    // Sequence 1 shares all three blocks (the last one partly filled: copied
    // when written), sequence 2 the two full ones.
    const std::vector<int32_t> blocks = kv.block_table(0);
    kv.attach(1, blocks, 40);
    kv.attach(2, std::vector<int32_t>(blocks.begin(), blocks.begin() + 2), 32);
    check_batch(kv, s, interleaved(kv, {{0, 5}, {1, 9}, {2, 1}}), {1, 3});
    EXPECT_EQ(kv.block_table(1)[1], kv.block_table(0)[1]);
  }
}

// Bitwise equality of float arrays (NaN payloads and signed zeros included).
bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

TEST(Attention, KernelRowsDoNotDependOnTheRowsAndTilesSharingTheCall) {
  // Register tiles share loads between rows and key tiles only: every row of a
  // many-row, many-tile call must equal one-row, one-tile calls made in turn,
  // bit for bit, at every SIMD level, for row counts and key counts off the
  // register tiles, causal masks cutting tiles anywhere (also to nothing), and
  // running softmax states (m, l, o) carried in from earlier tiles. The F16
  // kernels (keys and values read as stored in an F16 cache) must give the
  // many-row results of their values widened to F32, bit for bit.
  using namespace attn;
  std::mt19937 rng(11);
  const Isa saved = active_isa();
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (isa != Isa::Scalar && set_isa(isa) != isa) continue;
    for (int32_t hd : {64, 128, 40, 8}) {
      const Kernels& k = isa == Isa::Scalar ? scalar_kernels() : kernels_for(isa, hd);
      for (int32_t rows : {1, 3, 7, 8, 9, 13, 28}) {
        for (int32_t tiles = 1; tiles <= kMaxKeyTiles; ++tiles) {
          SCOPED_TRACE(testing::Message() << isa_name(isa) << " hd " << hd << " rows " << rows << " tiles " << tiles);
          const std::vector<float> q = random_rows(rng(), static_cast<size_t>(rows) * hd);
          std::vector<float> kt(static_cast<size_t>(tiles) * hd * kKeyTile);
          std::vector<uint16_t> kt16(kt.size());
          std::vector<std::vector<float>> vals(tiles);
          std::vector<std::vector<uint16_t>> vals16(tiles);
          std::vector<const float*> v(tiles), kts(tiles);
          std::vector<const uint16_t*> v16(tiles), kts16(tiles);
          std::vector<int32_t> n(tiles), lim(static_cast<size_t>(tiles) * rows);
          for (int32_t t = 0; t < tiles; ++t) {
            n[t] = t == tiles - 1 ? 1 + static_cast<int32_t>(rng() % kKeyTile) : kKeyTile;
            const std::vector<float> keys = f16_exact(random_rows(rng(), static_cast<size_t>(n[t]) * hd));
            const size_t at = static_cast<size_t>(t) * hd * kKeyTile;
            k.transpose(keys.data(), n[t], hd, kt.data() + at);
            for (size_t i = at; i < at + static_cast<size_t>(hd) * kKeyTile; ++i) kt16[i] = fp32_to_fp16(kt[i]);
            kts[t] = kt.data() + at;
            kts16[t] = kt16.data() + at;
            vals[t] = f16_exact(random_rows(rng(), static_cast<size_t>(n[t]) * hd));
            for (float x : vals[t]) vals16[t].push_back(fp32_to_fp16(x));
            v[t] = vals[t].data();
            v16[t] = vals16[t].data();
            for (int32_t r = 0; r < rows; ++r) lim[static_cast<size_t>(t) * rows + r] = static_cast<int32_t>(rng() % (n[t] + 1));
          }
          // Carried-in state: some rows fresh (nothing seen yet), some mid-sequence.
          std::vector<float> m(rows), l(rows), o = random_rows(rng(), static_cast<size_t>(rows) * hd);
          for (int32_t r = 0; r < rows; ++r) {
            m[r] = r % 3 == 0 ? -INFINITY : static_cast<float>(rng() % 7) - 3.0f;
            l[r] = r % 3 == 0 ? 0.0f : 1.0f + static_cast<float>(rng() % 5);
            if (r % 3 == 0) std::fill_n(o.begin() + static_cast<size_t>(r) * hd, hd, 0.0f);
          }
          std::vector<float> m1 = m, l1 = l, o1 = o, m16 = m, l16 = l, o16 = o;
          std::vector<float> p(static_cast<size_t>(tiles) * rows * kKeyTile), f(static_cast<size_t>(tiles) * rows);
          std::vector<float> p16(p.size()), f16(f.size());
          k.f32.scores(q.data(), rows, hd, kts.data(), tiles, lim.data(), m.data(), l.data(), p.data(), f.data());
          k.f32.accumulate(p.data(), f.data(), rows, hd, v.data(), n.data(), tiles, o.data());
          k.f16.scores(q.data(), rows, hd, kts16.data(), tiles, lim.data(), m16.data(), l16.data(), p16.data(),
                       f16.data());
          k.f16.accumulate(p16.data(), f16.data(), rows, hd, v16.data(), n.data(), tiles, o16.data());
          EXPECT_TRUE(same_bits(p.data(), p16.data(), p.size()));
          EXPECT_TRUE(same_bits(o.data(), o16.data(), o.size()));
          EXPECT_TRUE(same_bits(m.data(), m16.data(), rows) && same_bits(l.data(), l16.data(), rows));
          for (int32_t r = 0; r < rows; ++r) {
            for (int32_t t = 0; t < tiles; ++t) {
              float p1[kKeyTile], f1;
              const int32_t lim1 = lim[static_cast<size_t>(t) * rows + r];
              k.f32.scores(q.data() + static_cast<size_t>(r) * hd, 1, hd, &kts[t], 1, &lim1, &m1[r], &l1[r], p1, &f1);
              k.f32.accumulate(p1, &f1, 1, hd, &v[t], &n[t], 1, o1.data() + static_cast<size_t>(r) * hd);
              const size_t at = static_cast<size_t>(t) * rows + r;
              ASSERT_TRUE(same_bits(p1, p.data() + at * kKeyTile, kKeyTile)) << "row " << r << " tile " << t;
              ASSERT_TRUE(same_bits(&f1, &f[at], 1)) << "row " << r << " tile " << t;
            }
          }
          EXPECT_TRUE(same_bits(m.data(), m1.data(), rows));
          EXPECT_TRUE(same_bits(l.data(), l1.data(), rows));
          EXPECT_TRUE(same_bits(o.data(), o1.data(), o.size()));
        }
      }
    }
  }
  set_isa(saved);
}

TEST(Attention, ATokensRowsDoNotDependOnItsQueryTile) {
  // Each token of a prefill chunk (a query tile of up to a block's tokens x the
  // query heads of a KV head) against the same token computed alone: bit for
  // bit, for every KV type, GQA ratio, head dim and SIMD level. Chunk KV reuse
  // (a chunk placed after the same context gives the same logits) rests on it.
  const Isa saved = active_isa();
  for (const KvType& type : all_kv_types()) {
    for (int32_t group : {1, 2, 7}) {
      for (int32_t hd : {64, 128, 40, 8}) {
        if (hd % 32 != 0 && (type.is_kivi() || type.row == DType::Q8_0)) continue;  // 32-value blocks
        Shape s;
        s.n_head = 2 * group;
        s.head_dim = hd;
        s.n_layer = 1;
        KvCache kv = make_cache(s, type, 16);
        fill(kv, s, 0, 37);
        const Batch chunk = interleaved(kv, {{0, 27}});  // positions 37..63: three query tiles
        write_batch(kv, s, chunk);
        const size_t width = static_cast<size_t>(s.n_head) * hd;
        const std::vector<float> q = random_rows(5, chunk.size() * width);
        for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
          if (set_isa(isa) != isa) continue;
          std::vector<float> all(q.size()), one(width);
          attention(kv, chunk, 0, q.data(), s.n_head, 0.125f, all.data(), nullptr);
          for (size_t t = 0; t < chunk.size(); ++t) {
            Batch alone;
            alone.add(0, chunk.tokens[t].pos, 0, false);
            attention(kv, alone, 0, q.data() + t * width, s.n_head, 0.125f, one.data(), nullptr);
            ASSERT_TRUE(same_bits(one.data(), all.data() + t * width, width))
                << "kv " << type.name() << " group " << group << " hd " << hd << " isa " << isa_name(isa) << " token " << t;
          }
        }
      }
    }
  }
  set_isa(saved);
}

}  // namespace
}  // namespace edgerag
