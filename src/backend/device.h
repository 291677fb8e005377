// Which compute backend runs a model: the CPU kernels (tensor/, model/attention)
// or the Vulkan backend (backend/vulkan). `auto` (the CLI's default) takes Vulkan
// when a GPU is there and falls back to the CPU otherwise, saying so once per
// process. A CPU-type Vulkan device (Mesa's lavapipe) is slower than the CPU
// kernels, so only `vulkan` uses it (the tests do).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/error.h"
#include "util/log.h"

namespace edgerag {

enum class DeviceKind { Cpu, Vulkan, Auto };

// "cpu" | "vulkan" | "auto"; throws edgerag::Error otherwise.
DeviceKind device_from_name(std::string_view name);
const char* device_name(DeviceKind d);

// How a model is placed on a backend (the --device / --gpu-layers / --vram-budget flags).
struct ComputeOptions {
  DeviceKind device = DeviceKind::Cpu;
  int32_t gpu_layers = -1;     // layers on the GPU (the first N); -1 = all
  int64_t vram_budget_mb = 0;  // 0 = no limit; else weights + KV + scratch must fit
};

// The options models load with unless told otherwise (Model::load); the CLI sets
// them from its flags once, before loading (to auto unless --device says otherwise).
// Library default: the CPU (tests choose their device explicitly).
ComputeOptions default_compute();
void set_default_compute(const ComputeOptions& o);

// Cpu or Vulkan for a request: Vulkan is checked (throws a clear edgerag::Error
// when no loader or device can be opened); Auto returns Vulkan when a device
// opens that is not a CPU-type device, and Cpu otherwise (logging the reason once).
DeviceKind resolve_device(DeviceKind d);

// A model's device part as `compute` asks, n_gpu of its layers: nullptr (the CPU)
// for cpu, zero layers or auto without a GPU; else make(). Under auto a model the
// backend cannot run (make() throws: a weight type without a shader...) stays on
// the CPU, saying why; under vulkan the error propagates.
template <typename T, typename Make>
std::unique_ptr<T> place_on_device(const ComputeOptions& compute, int64_t n_gpu, Make&& make) {
  if (compute.device == DeviceKind::Cpu || n_gpu == 0 || resolve_device(compute.device) == DeviceKind::Cpu)
    return nullptr;
  if (compute.device == DeviceKind::Vulkan) return make();
  try {
    return make();
  } catch (const Error& e) {
    log(LogLevel::Warn, "device auto: {}; running on the CPU", e.what());
    return nullptr;
  }
}

}  // namespace edgerag
