#include "format/json_file.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "util/error.h"

namespace edgerag {

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", where, e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EDGERAG_CHECK(in.good(), "{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_json_text(ss.str(), path);
}

JsonShapeExcess check_json_shape(std::string_view text, const JsonShapeLimits& limits) {
  std::vector<size_t> keys;  // per open container: keys so far (one ':' per key)
  size_t values = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c == '[' || c == '{') {
      keys.push_back(0);
      if (keys.size() > limits.depth) return JsonShapeExcess::kDepth;
    } else if (c == ']' || c == '}') {
      if (!keys.empty()) keys.pop_back();
    } else if (c == ':' && !keys.empty() && ++keys.back() > limits.keys_per_object) {
      return JsonShapeExcess::kKeys;
    }
    if ((c == '[' || c == '{' || c == ',' || c == ':') && ++values > limits.values) return JsonShapeExcess::kValues;
  }
  return JsonShapeExcess::kNone;
}

}  // namespace edgerag
