// The compute shaders (vulkan/shaders/*.comp), compiled by glslc at build time.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string_view>

namespace edgerag::vk {

// SPIR-V words by shader name ("rms_norm", "matmul_q4_0", ...).
const std::map<std::string_view, std::span<const uint32_t>>& spirv_modules();

}  // namespace edgerag::vk
