// --kv-type f32|f16|q8_0|int8|int4: the KV cache type of the commands that run the decoder.
#pragma once
#include <CLI/CLI.hpp>

#include "model/kv_cache.h"

namespace edgerag::cli {

CLI::Option* add_kv_type_option(CLI::App* cmd, KvType* out);

}  // namespace edgerag::cli
