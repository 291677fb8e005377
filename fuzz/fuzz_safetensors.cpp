// libFuzzer target: any byte string either opens as a safetensors file, with
// every tensor's bytes inside the file, or raises edgerag::Error.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "format/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/edgerag_fuzz_" + std::to_string(getpid()) + ".safetensors";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto st = edgerag::SafetensorsFile::open(path);
    for (const auto& t : st->tensors()) {
      volatile uint8_t sink = t.nbytes ? t.data[t.nbytes - 1] : 0;
      (void)sink;
    }
  } catch (const edgerag::Error&) {
  }
  return 0;
}
