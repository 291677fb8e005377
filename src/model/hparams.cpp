#include "model/hparams.h"

#include "util/error.h"

namespace edgerag {
namespace {

int32_t require_int(const GgufFile& f, const std::string& key) {
  EDGERAG_CHECK(f.has(key), "{}: missing metadata key '{}'", f.path(), key);
  const int64_t v = f.get_int(key, 0);
  EDGERAG_CHECK(v > 0 && v < (int64_t{1} << 30), "{}: metadata '{}' = {} is out of range", f.path(), key, v);
  return static_cast<int32_t>(v);
}

}  // namespace

HParams read_hparams(const GgufFile& f) {
  HParams hp;
  hp.arch_name = f.get_string("general.architecture");
  if (hp.arch_name == "llama") hp.arch = Arch::Llama;
  else if (hp.arch_name == "qwen2") hp.arch = Arch::Qwen2;
  else if (hp.arch_name == "qwen3") hp.arch = Arch::Qwen3;
  else fail("{}: unsupported architecture '{}' (supported: llama, qwen2, qwen3)", f.path(), hp.arch_name);
  const std::string a = hp.arch_name + ".";

  hp.n_ctx_train = require_int(f, a + "context_length");
  hp.n_embd = require_int(f, a + "embedding_length");
  hp.n_ff = require_int(f, a + "feed_forward_length");
  hp.n_layer = require_int(f, a + "block_count");
  hp.n_head = require_int(f, a + "attention.head_count");
  hp.n_head_kv = f.has(a + "attention.head_count_kv") ? require_int(f, a + "attention.head_count_kv") : hp.n_head;
  EDGERAG_CHECK(hp.n_head % hp.n_head_kv == 0, "{}: head_count {} is not a multiple of head_count_kv {}", f.path(),
                hp.n_head, hp.n_head_kv);
  hp.head_dim = f.has(a + "attention.key_length") ? require_int(f, a + "attention.key_length")
                                                  : hp.n_embd / hp.n_head;
  EDGERAG_CHECK(hp.head_dim > 0 && hp.head_dim % 2 == 0, "{}: bad head dimension {}", f.path(), hp.head_dim);
  if (f.has(a + "attention.value_length"))
    EDGERAG_CHECK(require_int(f, a + "attention.value_length") == hp.head_dim,
                  "{}: key and value head sizes differ (unsupported)", f.path());
  hp.n_rot = f.has(a + "rope.dimension_count") ? require_int(f, a + "rope.dimension_count") : hp.head_dim;
  EDGERAG_CHECK(hp.n_rot <= hp.head_dim && hp.n_rot % 2 == 0, "{}: rope.dimension_count {} invalid for head size {}",
                f.path(), hp.n_rot, hp.head_dim);
  hp.rms_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5));
  hp.rope_freq_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
  EDGERAG_CHECK(hp.rope_freq_base > 0, "{}: rope.freq_base must be positive", f.path());

  const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
  if (scaling == "linear") {
    const double factor = f.get_float(a + "rope.scaling.factor", 1.0);
    EDGERAG_CHECK(factor > 0, "{}: rope.scaling.factor must be positive", f.path());
    hp.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none") {
    fail("{}: rope scaling type '{}' is not supported (none, linear)", f.path(), scaling);
  }
  hp.rope_neox = hp.arch != Arch::Llama;

  // Vocabulary size: the metadata key when present, else the token list.
  if (f.has(a + "vocab_size")) hp.n_vocab = require_int(f, a + "vocab_size");
  else hp.n_vocab = static_cast<int32_t>(f.get_string_array("tokenizer.ggml.tokens").size());
  return hp;
}

}  // namespace edgerag
