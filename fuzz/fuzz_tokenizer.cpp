// libFuzzer target for a tokenizer (SPM, BPE or WordPiece: the vocabulary file
// is EDGERAG_FUZZ_MODEL, else the build's default): encoding any bytes gives
// ids inside the vocabulary, and those ids decode and render without error.
#include <cstdlib>
#include <memory>
#include <string>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

const edgerag::Tokenizer& tokenizer() {
  static const std::unique_ptr<edgerag::Tokenizer> tok = [] {
    const char* env = std::getenv("EDGERAG_FUZZ_MODEL");
    auto gguf = edgerag::GgufFile::open(env && *env ? env : EDGERAG_FUZZ_MODEL_DEFAULT);
    return edgerag::Tokenizer::from_gguf(*gguf);
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tok = tokenizer();
  if (size == 0) return 0;
  // The first byte picks the flags, the rest is the text.
  bool add_special = data[0] & 1, parse_special = data[0] & 2;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto ids = tok.encode(text, add_special, parse_special);
  for (int32_t id : ids)
    if (id < 0 || id >= tok.n_vocab()) std::abort();
  (void)tok.decode(ids, data[0] & 4);
  for (int32_t id : ids) (void)tok.token_to_piece(id);
  return 0;
}
