#include "webui/assets.h"

namespace edgerag::webui {

const Asset* find_asset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const auto& a : assets())
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace edgerag::webui
