// Reading the JSON side files of Hugging Face checkpoints (config.json,
// tokenizer.json, model.safetensors.index.json, ...).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace edgerag {

// Parses `text`; throws edgerag::Error naming `where` on a syntax error.
nlohmann::json parse_json_text(const std::string& text, const std::string& where);
// Parses the file at `path`; throws edgerag::Error if it cannot be read or parsed.
nlohmann::json read_json_file(const std::string& path);

}  // namespace edgerag
