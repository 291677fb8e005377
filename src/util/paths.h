// Where edgerag finds models: the models directory setting and name resolution.
#pragma once
#include <string>

namespace edgerag {

// EDGERAG_MODELS if set, else $XDG_DATA_HOME/edgerag/models (~/.local/share/...)
// when it exists, else the `fallback` given by the caller (the build's shared models).
std::string models_dir(const std::string& fallback = "");

// A file (or a checkpoint directory holding config.json) that exists is returned as
// is; otherwise NAME, NAME.gguf are looked up in the models directory. Throws with
// the places searched when nothing matches.
std::string resolve_model(const std::string& name_or_path, const std::string& fallback_dir = "");

}  // namespace edgerag
