// libFuzzer target: request bodies -> validated parameters for every JSON
// endpoint. Anything must either parse or raise ApiError 400 (never another
// exception, which the server would turn into a 500).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/api_error.h"
#include "server/params.h"

using namespace edgerag::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const Limits limits{.max_tokens = 64, .default_max_tokens = 16, .max_inputs = 8, .max_prompt_bytes = 4096};
  nlohmann::json j;
  try {
    j = parse_json_body(body);
  } catch (const ApiError& e) {
    if (e.status != 400) std::abort();
    return 0;
  }
  auto expect_400 = [](auto&& parse) {
    try {
      parse();
    } catch (const ApiError& e) {
      if (e.status != 400) std::abort();
    }
  };
  expect_400([&] { parse_chat_request(j, limits); });
  expect_400([&] { parse_completion_request(j, limits); });
  expect_400([&] { parse_embedding_request(j, limits); });
  expect_400([&] { parse_rerank_request(j, limits); });
  return 0;
}
