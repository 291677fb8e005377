#include "backend/device.h"

#include <mutex>

#include "backend/vulkan/vk_context.h"
#include "util/error.h"
#include "util/log.h"

namespace edgerag {
namespace {

std::mutex g_mu;
ComputeOptions g_default;

}  // namespace

DeviceKind device_from_name(std::string_view name) {
  if (name == "cpu") return DeviceKind::Cpu;
  if (name == "vulkan") return DeviceKind::Vulkan;
  if (name == "auto") return DeviceKind::Auto;
  fail("unknown device '{}' (expected cpu, vulkan or auto)", name);
}

const char* device_name(DeviceKind d) {
  switch (d) {
    case DeviceKind::Cpu: return "cpu";
    case DeviceKind::Vulkan: return "vulkan";
    case DeviceKind::Auto: break;
  }
  return "auto";
}

ComputeOptions default_compute() {
  std::lock_guard lock(g_mu);
  return g_default;
}

void set_default_compute(const ComputeOptions& o) {
  EDGERAG_CHECK(o.gpu_layers >= -1, "--gpu-layers must be >= 0 (or -1 for all), got {}", o.gpu_layers);
  EDGERAG_CHECK(o.vram_budget_mb >= 0, "--vram-budget must be >= 0 MB, got {}", o.vram_budget_mb);
  std::lock_guard lock(g_mu);
  g_default = o;
}

DeviceKind resolve_device(DeviceKind d) {
  if (d == DeviceKind::Cpu) return d;
  if (d == DeviceKind::Vulkan) {
    vk::Context::shared();  // throws with the reason
    return d;
  }
  std::string why;
  if (vk::Context::available(&why)) {
    const auto ctx = vk::Context::shared();
    if (std::string_view(ctx->device_type()) != "cpu") return DeviceKind::Vulkan;
    why = fmt::format("only the CPU-type device {}, slower than the CPU kernels; --device vulkan uses it",
                      ctx->device_name());
  }
  static std::once_flag said;
  std::call_once(said, [&] { log(LogLevel::Warn, "device auto: no Vulkan device ({}); running on the CPU", why); });
  return DeviceKind::Cpu;
}

}  // namespace edgerag
