// Quantizes a whole GGUF decoder: picks a storage type per tensor by rule,
// runs the chosen method (rtn, nf4, hqq, gptq, awq, autoround, spqr) and writes a GGUF file with
// the source's metadata and tokenizer.
//
// Rules: 1-D tensors (norms, biases) stay F32; token_embd / output keep 8 bits
// (Q8_0) unless --bits 8 asks the same anyway; a linear weight whose row length
// is not a multiple of the group uses the largest smaller group that divides it
// (128 -> 64 -> 32), and where none does (e.g. stories260K's ffn_down, 172
// columns) falls back to Q8_0 (multiple of 32) or F16, as llama-quantize does.
#pragma once
#include <string>
#include <vector>

#include "quant/autoround.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "quant/hqq.h"
#include "quant/spqr.h"

namespace edgerag::quant {

struct QuantizeOptions {
  std::string method = "rtn";  // rtn | nf4 | hqq | gptq | awq | autoround | spqr
  int bits = 4;
  int group = 32;
  int asymmetric = -1;         // -1: the method's default (rtn, gptq: symmetric; hqq, awq: asymmetric)
  bool double_quant = true;    // nf4: 8-bit scales under a shared fp16 scale (rows of 256 multiples)
  GptqOptions gptq;
  HqqOptions hqq;
  AwqOptions awq;
  SpqrOptions spqr;
  AutoRoundOptions autoround;  // its nsamples, when > 0, sets the calibration tokens (nsamples * calib_ctx)
  std::string calib_file;      // text for gptq / awq / autoround / spqr
  int64_t calib_tokens = 4096;
  int64_t calib_ctx = 256;
  int threads = 0;             // 0: default_thread_count()
};

struct TensorChoice {
  std::string name;
  DType type;
  int64_t n_elements = 0;
  size_t bytes = 0;
  std::string note;  // why it is not the requested scheme (rule / fallback)
};

struct QuantizeSummary {
  std::string method;
  std::vector<TensorChoice> tensors;
  int64_t n_params = 0;
  size_t tensor_bytes = 0;
  size_t file_bytes = 0;
  int64_t calib_tokens = 0;
  double seconds = 0;
  // The weights quantized by the method (not the rule / fallback tensors) and
  // their bytes, SpQR outlier side tensors included.
  int64_t method_params = 0;
  size_t method_bytes = 0;
  int64_t n_outliers = 0;
  size_t outlier_bytes = 0;  // of method_bytes: the SpQR side tensors (tensor/sparse.h)
  double bits_per_weight() const { return n_params ? 8.0 * tensor_bytes / n_params : 0; }
  // Effective bits per method weight from the bytes stored: codes + group
  // scales/offsets + outlier side tensors; outlier_bits() is the side tensors' part.
  double method_bits() const { return method_params ? 8.0 * method_bytes / method_params : 0; }
  double outlier_bits() const { return method_params ? 8.0 * outlier_bytes / method_params : 0; }
  double outlier_share() const { return method_params ? static_cast<double>(n_outliers) / method_params : 0; }
};

QuantizeSummary quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt);

// Whether the method needs calibration text (gptq, awq, autoround, spqr).
bool calibrated_method(const std::string& method);

// Methods accepted by quantize_model, in the study's order.
const std::vector<std::string>& quant_methods();

}  // namespace edgerag::quant
