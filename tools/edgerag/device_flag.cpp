#include "device_flag.h"

#include "backend/device.h"

namespace edgerag::cli {

void add_device_options(CLI::App* cmd) {
  // Parsing this command starts from auto; each flag then changes one field.
  cmd->preparse_callback([](size_t) { set_default_compute(ComputeOptions{DeviceKind::Auto}); });
  auto update = [](auto&& change) {
    ComputeOptions o = default_compute();
    change(o);
    set_default_compute(o);
  };
  cmd->add_option_function<std::string>(
         "--device", [update](const std::string& v) { update([&](ComputeOptions& o) { o.device = device_from_name(v); }); },
         "Compute backend: cpu, vulkan, or auto (a Vulkan GPU if there is one, else the CPU)")
      ->default_str("auto");
  cmd->add_option_function<int32_t>(
         "--gpu-layers", [update](int32_t n) { update([&](ComputeOptions& o) { o.gpu_layers = n; }); },
         "Layers on the GPU, the first N (-1 = all, with the decoder's output head); the rest run on the CPU")
      ->default_str("-1")
      ->check(CLI::Range(-1, 1 << 16));
  cmd->add_option_function<int64_t>(
         "--vram-budget", [update](int64_t mb) { update([&](ComputeOptions& o) { o.vram_budget_mb = mb; }); },
         "Device memory for weights + KV cache in MB (0 = no limit); loading fails up front above it")
      ->default_str("0")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace edgerag::cli
