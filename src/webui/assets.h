// The web page `edgerag serve` answers at / : the files of web/ (HTML, CSS,
// JavaScript, no third-party code), embedded into the binary at build time by
// src/webui/embed_assets.cmake, so the page needs nothing from anywhere else.
#pragma once
#include <string_view>
#include <vector>

namespace edgerag::webui {

struct Asset {
  std::string_view path;          // URL path, e.g. "/app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view bytes;
};

// Every embedded file (generated).
const std::vector<Asset>& assets();
// The asset for a URL path ("/" is "/index.html"); nullptr when there is none.
const Asset* find_asset(std::string_view path);

}  // namespace edgerag::webui
