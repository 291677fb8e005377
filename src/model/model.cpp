#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "convert/hf_checkpoint.h"
#include "model/cpu_decoder_ops.h"
#include "model/vulkan_decoder.h"
#include "tensor/repack.h"
#include "util/error.h"
#include "util/log.h"

namespace edgerag {
namespace {

// A weight matrix with ne = [cols, rows]; the shape and type are checked.
Matrix bind_matrix(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows) {
  const GgufTensor& t = f.tensor(name);
  EDGERAG_CHECK(t.n_dims == 2 && t.ne[0] == cols && t.ne[1] == rows, "{}: tensor '{}' has shape {}, expected [{}, {}]",
                f.path(), name, t.shape_string(), cols, rows);
  const auto& tr = dtype_traits(t.type);
  EDGERAG_CHECK(tr.supported && tr.block_size > 0 && cols % tr.block_size == 0,
                "{}: tensor '{}' has unsupported type {}", f.path(), name, tr.name);
  Matrix m = Matrix::of(t.type, cols, rows, t.data);
  if (const GgufTensor* o = f.find_tensor(name + kOutlierSuffix)) {
    const std::string what = fmt::format("{}: tensor '{}{}'", f.path(), name, kOutlierSuffix);
    EDGERAG_CHECK(o->n_dims == 1, "{} must be 1-D", what);
    m.outliers = CsrOutliers::view(o->type, o->data, o->nbytes, rows, cols, what);
  }
  return m;
}

// A 1-D F32 vector of n values (norm weights, biases); nullptr if optional and absent.
const float* bind_vector(const GgufFile& f, const std::string& name, int64_t n, bool required) {
  const GgufTensor* t = f.find_tensor(name);
  if (!t) {
    EDGERAG_CHECK(!required, "{}: missing tensor '{}'", f.path(), name);
    return nullptr;
  }
  EDGERAG_CHECK(t->type == DType::F32 && t->n_elements() == n, "{}: tensor '{}' must be F32 with {} values (is {} {})",
                f.path(), name, n, dtype_name(t->type), t->shape_string());
  return reinterpret_cast<const float*>(t->data);
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path, WeightPacking packing) {
  return load(path, packing, default_compute());
}

std::unique_ptr<Model> Model::load(const std::string& path, WeightPacking packing, const ComputeOptions& compute) {
  return from_gguf(open_model_file(path), packing, compute);  // a GGUF file or a checkpoint directory
}

std::unique_ptr<Model> Model::from_gguf(std::shared_ptr<const GgufFile> file, WeightPacking packing) {
  return from_gguf(std::move(file), packing, default_compute());
}

std::unique_ptr<Model> Model::from_gguf(std::shared_ptr<const GgufFile> file, WeightPacking packing,
                                        const ComputeOptions& compute) {
  EDGERAG_CHECK(file != nullptr, "Model::from_gguf: no file");
  std::unique_ptr<Model> m(new Model());
  m->file_ = std::move(file);
  m->hp_ = read_hparams(*m->file_);
  m->bind_weights();
  m->place(compute);  // uploads GPU layers in the file layout, before packing rearranges the CPU's
  m->pack_weights(packing);
  return m;
}

void Model::place(const ComputeOptions& compute) {
  const int32_t n_gpu = compute.gpu_layers < 0 ? hp_.n_layer : std::min(compute.gpu_layers, hp_.n_layer);
  const DecoderWeights w = weights();
  gpu_ = place_on_device<DeviceDecoder>(compute, n_gpu, [&] {
    return std::make_unique<VulkanDecoder>(hp_, w, n_gpu, static_cast<size_t>(compute.vram_budget_mb) * 1000000);
  });
}

void Model::pack_weights(WeightPacking packing) {
  if (packing == WeightPacking::kAuto) {
    const char* env = std::getenv("EDGERAG_PACK");
    if (env && std::string_view(env) == "0") packing = WeightPacking::kNever;
    else if ((env && std::string_view(env) == "1") || file_->private_copy()) packing = WeightPacking::kAlways;
    else packing = WeightPacking::kNever;
  }
  // Nobody else may see the bytes change; the file object was created mutable (GgufFile::open).
  if (packing == WeightPacking::kNever || file_.use_count() != 1) return;
  std::vector<Matrix*> todo;
  for (size_t il = gpu_layers(); il < layers_.size(); ++il) {  // the CPU's layers only
    LayerWeights& L = layers_[il];
    for (Matrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) todo.push_back(w);
  }
  // A tied head is the embedding table too: get_row reads single rows back out of the packed groups.
  // A head on the GPU was uploaded in the file layout and is not read here.
  if (!(gpu_ && gpu_->whole_model())) todo.push_back(&output_);
  if (std::none_of(todo.begin(), todo.end(), [](const Matrix* w) { return packing_pays(w->type); })) return;
  auto& file = const_cast<GgufFile&>(*file_);
  file.set_writable(true);
  for (Matrix* w : todo) pack_rows(*w, const_cast<uint8_t*>(w->data));
  if (output_.data == tok_embd_.data) tok_embd_ = output_;
  file.set_writable(false);
}

void Model::bind_weights() {
  const GgufFile& f = *file_;
  const GgufTensor& emb = f.tensor("token_embd.weight");
  EDGERAG_CHECK(emb.n_dims == 2, "{}: token_embd.weight must be 2-D", f.path());
  if (!f.has(hp_.arch_name + ".vocab_size")) hp_.n_vocab = static_cast<int32_t>(emb.ne[1]);
  const int64_t E = hp_.n_embd, V = hp_.n_vocab, Q = hp_.n_embd_q(), KV = hp_.n_embd_kv(), F = hp_.n_ff;
  tok_embd_ = bind_matrix(f, "token_embd.weight", E, V);
  output_ = f.find_tensor("output.weight") ? bind_matrix(f, "output.weight", E, V) : tok_embd_;
  output_norm_ = bind_vector(f, "output_norm.weight", E, true);
  rope_freqs_ = bind_vector(f, "rope_freqs.weight", hp_.n_rot / 2, false);
  EDGERAG_CHECK(!rope_freqs_ || !hp_.rope_neox, "{}: rope_freqs.weight with NEOX RoPE is not supported", f.path());
  layers_.resize(hp_.n_layer);
  for (int32_t i = 0; i < hp_.n_layer; ++i) {
    auto name = [i](const char* n) { return fmt::format("blk.{}.{}", i, n); };
    LayerWeights& L = layers_[i];
    L.attn_norm = bind_vector(f, name("attn_norm.weight"), E, true);
    L.wq = bind_matrix(f, name("attn_q.weight"), E, Q);
    L.wk = bind_matrix(f, name("attn_k.weight"), E, KV);
    L.wv = bind_matrix(f, name("attn_v.weight"), E, KV);
    L.wo = bind_matrix(f, name("attn_output.weight"), Q, E);
    const bool biases = hp_.arch == Arch::Qwen2;
    L.bq = bind_vector(f, name("attn_q.bias"), Q, biases);
    L.bk = bind_vector(f, name("attn_k.bias"), KV, biases);
    L.bv = bind_vector(f, name("attn_v.bias"), KV, biases);
    const bool qk_norm = hp_.arch == Arch::Qwen3;
    L.q_norm = bind_vector(f, name("attn_q_norm.weight"), hp_.head_dim, qk_norm);
    L.k_norm = bind_vector(f, name("attn_k_norm.weight"), hp_.head_dim, qk_norm);
    L.ffn_norm = bind_vector(f, name("ffn_norm.weight"), E, true);
    L.w_gate = bind_matrix(f, name("ffn_gate.weight"), E, F);
    L.w_up = bind_matrix(f, name("ffn_up.weight"), E, F);
    L.w_down = bind_matrix(f, name("ffn_down.weight"), F, E);
  }
}

void Model::rerotate_keys(float* k, int64_t n_rows, int64_t delta) const {
  if (delta == 0) return;
  for (int64_t r = 0; r < n_rows; ++r) rope_heads(hp_, rope_freqs_, k + r * hp_.n_embd_kv(), hp_.n_head_kv, delta);
}

std::unique_ptr<KvCache> Model::make_cache(int64_t n_tokens, KvType type) const {
  if (gpu_ && type == KvType(DType::F16)) type = DType::F32;
  auto cache = std::make_unique<KvCache>(KvCacheConfig::for_model(hp_, n_tokens, type));
  if (gpu_) gpu_->attach(*cache);
  return cache;
}

Logits Model::forward(const Batch& batch, KvCache& cache, ThreadPool* pool, const ForwardHooks* hooks) const {
  const int64_t n = static_cast<int64_t>(batch.size());
  EDGERAG_CHECK(n > 0, "forward: empty batch");
  const auto& kc = cache.config();
  EDGERAG_CHECK(kc.n_layer == hp_.n_layer && kc.n_head_kv == hp_.n_head_kv && kc.head_dim == hp_.head_dim,
                "forward: KV cache shape does not match the model");
  // Every sequence continues exactly where its cache ends (a rewrite batch:
  // increasing positions inside it).
  std::map<SeqId, int32_t> next_pos;
  std::map<SeqId, std::pair<int32_t, int32_t>> rewritten;  // first, last position
  for (const auto& t : batch.tokens) {
    EDGERAG_CHECK(t.id >= 0 && t.id < hp_.n_vocab, "forward: token id {} out of range [0, {})", t.id, hp_.n_vocab);
    if (batch.rewrite) {
      auto [it, fresh] = rewritten.try_emplace(t.seq, t.pos, t.pos);
      EDGERAG_CHECK(t.pos >= 0 && t.pos < cache.seq_len(t.seq) && (fresh || t.pos > it->second.second),
                    "forward: rewrite of position {} of sequence {} (length {}) out of order", t.pos, t.seq,
                    cache.seq_len(t.seq));
      it->second.second = t.pos;
      continue;
    }
    auto [it, fresh] = next_pos.try_emplace(t.seq, cache.seq_len(t.seq));
    EDGERAG_CHECK(t.pos == it->second, "forward: sequence {} expects position {} next, got {}", t.seq, it->second,
                  t.pos);
    ++it->second;
  }
  const int32_t n_layers = hooks && hooks->n_layers > 0 ? std::min(hooks->n_layers, hp_.n_layer) : hp_.n_layer;
  // Only the CPU's ops run hooks (CpuDecoderOps); checked before the cache changes.
  EDGERAG_CHECK(!gpu_ || !hooks || (!hooks->on_linear_input && !hooks->attention && hooks->n_layers == 0),
                "forward: hooks (calibration, attention capture, a layer prefix) run on the CPU only (--device cpu)");
  if (batch.rewrite) {
    for (const auto& [seq, range] : rewritten) cache.prepare_rewrite(seq, range.first, range.second + 1);
  } else {
    cache.reserve_batch(batch);
  }
  std::vector<int32_t> blk(n), slot(n);
  for (int64_t t = 0; t < n; ++t) {
    blk[t] = cache.block_of(batch.tokens[t].seq, batch.tokens[t].pos);
    slot[t] = batch.tokens[t].pos % cache.block_size();
  }
  // Layers [0, n_gpu) run on the GPU's ops, the rest on the CPU's, through the one
  // layer sequence; X crosses to the host once where the backend changes.
  // Embeddings and head sit on the GPU only when every layer does.
  const bool whole_gpu = gpu_ && gpu_->whole_model();
  const DecoderWeights w = weights();
  std::optional<CpuDecoderOps> cpu_ops;
  if (!whole_gpu) cpu_ops.emplace(hp_, w, batch, cache, blk, slot, pool, hooks);
  DecoderOps* cpu = cpu_ops ? &*cpu_ops : nullptr;
  std::unique_ptr<DecoderOps> gpu;
  if (gpu_) {
    gpu_->attach(cache);  // a cache not made by make_cache
    gpu = gpu_->begin_step(batch, cache, blk, slot);
  }
  DecoderOps* ops = whole_gpu ? gpu.get() : cpu;
  std::vector<float> host_x;
  auto run_on = [&](DecoderOps* next) {
    if (next == ops) return;
    host_x.resize(n * hp_.n_embd);
    ops->read_x(host_x.data());
    next->write_x(host_x.data());
    ops = next;
  };
  ops->embed();
  const bool capture = hooks && hooks->attention;
  for (int32_t il = 0; il < n_layers; ++il) {
    run_on(il < gpu_layers() ? gpu.get() : cpu);
    // A layer prefix's output is only its K/V: the last layer stops once they are written.
    decoder_layer(*ops, layers_[il], il, hp_, il + 1 == n_layers && n_layers < hp_.n_layer && !capture);
  }
  for (const auto& [seq, end] : next_pos) cache.commit(seq, end - cache.seq_len(seq));
  for (const auto& [seq, range] : rewritten) cache.finish_rewrite(seq, range.first, range.second + 1);
  if (n_layers < hp_.n_layer) return Logits{hp_.n_vocab, {}, std::vector<int32_t>(n, -1)};
  run_on(whole_gpu ? gpu.get() : cpu);
  return ops->output();
}

}  // namespace edgerag
