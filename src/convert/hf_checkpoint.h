// Hugging Face checkpoints (a directory with config.json, *.safetensors and
// tokenizer.json) of the supported decoders — LlamaForCausalLM,
// Qwen2ForCausalLM, Qwen3ForCausalLM — unquantized or as published by AutoAWQ
// (GEMM) and AutoGPTQ / Optimum (GPTQ v1 and v2), converted into GGUF tensors
// and metadata so the rest of the engine (Model, Tokenizer, chat templates)
// runs on them unchanged. Weight mapping (docs/FORMATS.md, "Checkpoints"):
//   4-bit (and 2-bit) groups of >= 32 inputs -> Q4_1 blocks: d = scale,
//     m = fp16(-scale * zero), codes unchanged (the fast Q4_1 kernels run);
//   8-bit with zero 128 -> Q8_0 (d = scale, q - 128);
//   anything else (GPTQ act-order groups that change inside 32 inputs, 8-bit
//     asymmetric) -> dequantized and requantized to Q8_0;
//   F16 / BF16 / F32 matrices keep their type; norms and biases become F32;
//   llama q/k rows are permuted from Hugging Face's rotate-half order to the
//     interleaved RoPE order GGUF llama models use.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "format/gguf.h"
#include "util/thread_pool.h"

namespace edgerag {

// True when `path` is a directory holding config.json.
bool is_hf_checkpoint(const std::string& path);

struct HfConvertSummary {
  std::string arch;          // GGUF architecture name
  std::string quantization;  // "none", "awq", "gptq"
  int bits = 16;
  int group_size = 0;
  std::map<std::string, int> type_counts;  // GGUF tensor type name -> tensors
};

// Reads the checkpoint in `dir` and adds its GGUF metadata (hyperparameters,
// tokenizer, chat template) and tensors to `w`. Throws edgerag::Error naming
// the file / tensor for unsupported architectures, quantization methods or
// bit widths, missing tensors and wrong shapes. `pool` (optional) repacks rows
// in parallel.
HfConvertSummary convert_hf_checkpoint(const std::string& dir, GgufWriter& w, ThreadPool* pool = nullptr);

// Converts the checkpoint into a temporary GGUF file, loads it (GgufFile with
// FileAccess::kPreferHugePages) and deletes it, so it costs no disk space once loaded.
std::shared_ptr<const GgufFile> open_hf_checkpoint(const std::string& dir);

// A GGUF file, or a checkpoint directory converted by open_hf_checkpoint.
std::shared_ptr<const GgufFile> open_model_file(const std::string& path);

}  // namespace edgerag
