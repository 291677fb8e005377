// libFuzzer target: any byte string must either parse as GGUF or raise edgerag::Error.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "format/gguf.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/edgerag_fuzz_" + std::to_string(getpid()) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    auto g = edgerag::GgufFile::open(path);
    for (const auto& t : g->tensors()) {
      volatile uint8_t sink = t.nbytes ? t.data[t.nbytes - 1] : 0;  // every tensor lies inside the file
      (void)sink;
    }
  } catch (const edgerag::Error&) {
  }
  return 0;
}
