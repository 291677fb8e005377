// Which compute backend runs a model: the CPU kernels (tensor/, model/attention)
// or the Vulkan backend (backend/vulkan). `auto` (the CLI's default) takes Vulkan
// when a GPU is there and falls back to the CPU otherwise, saying so once per
// process. A CPU-type Vulkan device (Mesa's lavapipe) is slower than the CPU
// kernels, so only `vulkan` uses it (the tests do).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

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

}  // namespace edgerag
