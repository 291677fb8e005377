// --device cpu|vulkan|auto, --gpu-layers N, --vram-budget MB: where the commands
// that run a model (decoder or encoder) place it (backend/device.h). They set the process's
// default_compute() as they are parsed; a command with these flags defaults to auto.
#pragma once
#include <CLI/CLI.hpp>

namespace edgerag::cli {

void add_device_options(CLI::App* cmd);

}  // namespace edgerag::cli
