#!/usr/bin/env bash
# Installs every build, test and runtime dependency of edgerag from Debian bookworm.
# Idempotent and non-interactive: packages already present are not reinstalled.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang-14 libclang-rt-14-dev          # libFuzzer + sanitizers
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev libtomlplusplus-dev
  libsqlite3-dev sqlite3 libhnswlib-dev
  jq                                   # the shell tests read JSON output with it
  libutf8proc-dev libicu-dev
  libcpp-httplib-dev libcurl4-openssl-dev libssl-dev
  libpoppler-cpp-dev libxml2-dev libgumbo-dev libzip-dev
  libtesseract-dev tesseract-ocr-eng
  libvulkan-dev glslc                  # the Vulkan backend (headers, loader, shader compiler)
  mesa-vulkan-drivers vulkan-tools     # lavapipe: the software Vulkan device the GPU tests run on
  libegl1                              # glvnd EGL: NVIDIA's Vulkan driver needs it, even headless
  nodejs                               # OpenAI npm client and web page tests (tests/js)
  chromium                             # the web page test's headless browser (driven by puppeteer-core)
  sqlite3-doc                          # the demo corpus (SQLite HTML documentation)
  nginx-light                          # the reference load balancer (deploy/nginx.conf.in) and its test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup-deps: all dependencies present"
fi

# Node packages of the OpenAI-client and web page tests (tests/js), pinned by package-lock.json
# (puppeteer-core drives the system chromium; it downloads no browser).
# Debian ships npm separately from nodejs (a NodeSource nodejs bundles it instead).
if ! command -v npm >/dev/null; then
  $SUDO apt-get install -y -qq --no-install-recommends npm
fi
if [ ! -d "$(dirname "$0")/../tests/js/node_modules/openai" ] || [ ! -d "$(dirname "$0")/../tests/js/node_modules/puppeteer-core" ]; then
  (cd "$(dirname "$0")/../tests/js" && npm ci --no-audit --no-fund --loglevel=error)
fi
