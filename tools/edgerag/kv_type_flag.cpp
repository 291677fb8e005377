// The --kv-type flag shared by the commands that run the decoder.
#include "kv_type_flag.h"

namespace edgerag::cli {

CLI::Option* add_kv_type_option(CLI::App* cmd, KvType* out) {
  return cmd
      ->add_option_function<std::string>(
          "--kv-type", [out](const std::string& v) { *out = kv_type_from_name(v); },
          "KV cache type: f32, f16, q8_0 (rows) or int8, int4 (KIVI: keys per channel, values per token, "
          "the first 4 tokens in F32)")
      ->default_str(default_kv_type().name());
}

}  // namespace edgerag::cli
