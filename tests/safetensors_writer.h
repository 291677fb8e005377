// Writes safetensors files for tests, independently of the reader: u64 LE
// header length, JSON header {name: {dtype, shape, data_offsets}}, data buffer.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgerag::test {

struct StEntry {
  std::string name;
  std::string dtype;  // "F16", "F32", "I32", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

template <typename T>
StEntry st_entry(std::string name, std::string dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  StEntry e{std::move(name), std::move(dtype), std::move(shape), {}};
  e.bytes.resize(values.size() * sizeof(T));
  std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
  return e;
}

// The header JSON for `entries` laid out back to back.
inline nlohmann::json st_header(const std::vector<StEntry>& entries) {
  nlohmann::json h = nlohmann::json::object();
  h["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (const auto& e : entries) {
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {off, off + e.bytes.size()}}};
    off += e.bytes.size();
  }
  return h;
}

// Writes header + data; `header` defaults to st_header(entries).
inline void write_safetensors(const std::string& path, const std::vector<StEntry>& entries,
                              const nlohmann::json* header = nullptr) {
  std::string h = (header ? *header : st_header(entries)).dump();
  while (h.size() % 8) h.push_back(' ');  // padding, as the reference writer does
  std::ofstream out(path, std::ios::binary);
  uint64_t n = h.size();
  for (int b = 0; b < 8; ++b) out.put(static_cast<char>((n >> (8 * b)) & 0xff));
  out << h;
  for (const auto& e : entries) out.write(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
}

}  // namespace edgerag::test
