// Reading the JSON side files of Hugging Face checkpoints (config.json,
// tokenizer.json, model.safetensors.index.json, ...).
#pragma once
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace edgerag {

// Parses `text`; throws edgerag::Error naming `where` on a syntax error.
nlohmann::json parse_json_text(const std::string& text, const std::string& where);
// Parses the file at `path`; throws edgerag::Error if it cannot be read or parsed.
nlohmann::json read_json_file(const std::string& path);

// Bounds on the shape of an untrusted JSON text, checked in one pass without
// recursion, so the (recursive) JSON parser and dump never see an over-deep or
// over-wide value. `values` counts containers and separators ('[', '{', ',', ':').
struct JsonShapeLimits {
  size_t depth = std::numeric_limits<size_t>::max();
  size_t values = std::numeric_limits<size_t>::max();
  size_t keys_per_object = std::numeric_limits<size_t>::max();
};
enum class JsonShapeExcess { kNone, kDepth, kValues, kKeys };
// The first bound `text` exceeds (kNone when within all of them).
JsonShapeExcess check_json_shape(std::string_view text, const JsonShapeLimits& limits);

}  // namespace edgerag
