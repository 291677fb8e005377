#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "format/json_file.h"
#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

struct DTypeInfo {
  const char* name;
  StDType type;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", StDType::BOOL, 1}, {"U8", StDType::U8, 1},   {"I8", StDType::I8, 1},     {"F8_E5M2", StDType::F8_E5M2, 1},
    {"F8_E4M3", StDType::F8_E4M3, 1}, {"I16", StDType::I16, 2}, {"U16", StDType::U16, 2}, {"F16", StDType::F16, 2},
    {"BF16", StDType::BF16, 2}, {"I32", StDType::I32, 4}, {"U32", StDType::U32, 4}, {"F32", StDType::F32, 4},
    {"F64", StDType::F64, 8},   {"I64", StDType::I64, 8}, {"U64", StDType::U64, 8},
};

const DTypeInfo& info(StDType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d;
  fail("safetensors: unknown dtype {}", static_cast<int>(t));
}

}  // namespace

size_t st_dtype_size(StDType t) { return info(t).size; }
const char* st_dtype_name(StDType t) { return info(t).name; }

int64_t StTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string StTensor::shape_string() const {
  std::string s = "[";
  for (size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "]";
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->map_ = std::make_unique<MappedFile>(path);
  const uint8_t* p = f->map_->data();
  const size_t size = f->map_->size();
  EDGERAG_CHECK(size >= 8, "{}: not a safetensors file (only {} bytes)", path, size);
  uint64_t n_header = 0;
  for (int b = 7; b >= 0; --b) n_header = (n_header << 8) | p[b];
  EDGERAG_CHECK(n_header <= kMaxHeaderBytes, "{}: corrupt safetensors header length {}", path, n_header);
  EDGERAG_CHECK(n_header <= size - 8, "{}: truncated safetensors file: header of {} bytes, {} left", path, n_header,
                size - 8);
  const json header = parse_json_text(std::string(reinterpret_cast<const char*>(p + 8), n_header), path + " header");
  EDGERAG_CHECK(header.is_object(), "{}: safetensors header is not a JSON object", path);
  const uint8_t* buffer = p + 8 + n_header;
  const size_t buffer_size = size - 8 - n_header;

  for (const auto& item : header.items()) {
    const std::string& name = item.key();  // not a structured binding: lambdas below capture it
    const auto& entry = item.value();
    if (name == "__metadata__") {
      EDGERAG_CHECK(entry.is_object(), "{}: __metadata__ is not an object", path);
      for (const auto& [k, v] : entry.items()) {
        EDGERAG_CHECK(v.is_string(), "{}: __metadata__ value '{}' is not a string", path, k);
        f->metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const auto where = [&] { return fmt::format("{}: tensor '{}'", path, name); };
    EDGERAG_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                      entry.contains("data_offsets"),
                  "{} needs dtype, shape and data_offsets", where());
    StTensor t;
    t.name = name;
    const json& dt = entry["dtype"];
    EDGERAG_CHECK(dt.is_string(), "{}: dtype is not a string", where());
    const auto it = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                 [&](const DTypeInfo& d) { return dt.get<std::string>() == d.name; });
    EDGERAG_CHECK(it != std::end(kDTypes), "{}: unknown dtype '{}'", where(), dt.get<std::string>());
    t.dtype = it->type;
    const json& shape = entry["shape"];
    EDGERAG_CHECK(shape.is_array() && shape.size() <= 8, "{}: shape must be an array of at most 8 sizes", where());
    uint64_t n = 1;
    for (const json& d : shape) {
      EDGERAG_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= (1ull << 40), "{}: bad shape {}", where(),
                    shape.dump());
      const uint64_t v = d.get<uint64_t>();
      EDGERAG_CHECK(v == 0 || n <= (1ull << 44) / v, "{}: shape {} is too large", where(), shape.dump());
      n *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const json& off = entry["data_offsets"];
    EDGERAG_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                  "{}: data_offsets must be [begin, end]", where());
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    EDGERAG_CHECK(begin <= end && end <= buffer_size,
                  "{}: data_offsets [{}, {}] lie outside the {}-byte data buffer (truncated or corrupt file)", where(),
                  begin, end, buffer_size);
    t.nbytes = n * it->size;
    EDGERAG_CHECK(end - begin == t.nbytes, "{}: {} {} needs {} bytes but data_offsets span {}", where(), it->name,
                  t.shape_string(), t.nbytes, end - begin);
    t.data = buffer + begin;
    f->index_[name] = f->tensors_.size();
    f->tensors_.push_back(std::move(t));
  }

  // Byte ranges must not overlap (zero-size tensors aside).
  std::vector<const StTensor*> by_start;
  for (const auto& t : f->tensors_)
    if (t.nbytes) by_start.push_back(&t);
  std::sort(by_start.begin(), by_start.end(), [](auto* a, auto* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_start.size(); ++i)
    EDGERAG_CHECK(by_start[i - 1]->data + by_start[i - 1]->nbytes <= by_start[i]->data,
                  "{}: tensors '{}' and '{}' overlap", path, by_start[i - 1]->name, by_start[i]->name);
  return f;
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsSet SafetensorsSet::open_dir(const std::string& dir) {
  SafetensorsSet set;
  set.dir_ = dir;
  const fs::path root(dir);
  const fs::path index_path = root / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    const json index = read_json_file(index_path.string());
    EDGERAG_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
                  "{}: no weight_map object", index_path.string());
    std::map<std::string, SafetensorsFile*> shards;
    for (const auto& [name, file] : index["weight_map"].items()) {
      EDGERAG_CHECK(file.is_string(), "{}: weight_map entry '{}' is not a file name", index_path.string(), name);
      const std::string shard = file.get<std::string>();
      EDGERAG_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "..",
                    "{}: shard name '{}' must be a file in the checkpoint directory", index_path.string(), shard);
      auto it = shards.find(shard);
      if (it == shards.end()) {
        set.files_.push_back(SafetensorsFile::open((root / shard).string()));
        it = shards.emplace(shard, set.files_.back().get()).first;
      }
      const StTensor* t = it->second->find(name);
      EDGERAG_CHECK(t != nullptr, "{}: weight_map puts '{}' in {}, which does not hold it", index_path.string(), name,
                    shard);
      set.index_[name] = t;
    }
    return set;
  }

  fs::path single = root / "model.safetensors";
  if (!fs::exists(single, ec)) {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.path().extension() == ".safetensors") found.push_back(e.path());
    EDGERAG_CHECK(found.size() == 1, "{}: expected model.safetensors.index.json, model.safetensors or one *.safetensors "
                  "file; found {} .safetensors files", dir, found.size());
    single = found[0];
  }
  set.files_.push_back(SafetensorsFile::open(single.string()));
  for (const auto& t : set.files_.back()->tensors()) set.index_[t.name] = &t;
  return set;
}

const StTensor* SafetensorsSet::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const StTensor& SafetensorsSet::tensor(const std::string& name) const {
  const StTensor* t = find(name);
  EDGERAG_CHECK(t != nullptr, "{}: checkpoint has no tensor '{}'", dir_, name);
  return *t;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : index_) out.push_back(name);
  return out;
}

float st_float_at(const StTensor& t, int64_t i) {
  const uint8_t* p = t.data + static_cast<size_t>(i) * st_dtype_size(t.dtype);
  switch (t.dtype) {
    case StDType::F16: { uint16_t h; std::memcpy(&h, p, 2); return fp16_to_fp32(h); }
    case StDType::BF16: { uint16_t h; std::memcpy(&h, p, 2); return bf16_to_fp32(h); }
    case StDType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case StDType::F64: { double v; std::memcpy(&v, p, 8); return static_cast<float>(v); }
    default: fail("tensor '{}': dtype {} is not floating point", t.name, st_dtype_name(t.dtype));
  }
}

int32_t st_i32_at(const StTensor& t, int64_t i) {
  EDGERAG_CHECK(t.dtype == StDType::I32, "tensor '{}': dtype {} is not I32", t.name, st_dtype_name(t.dtype));
  int32_t v;
  std::memcpy(&v, t.data + static_cast<size_t>(i) * 4, 4);
  return v;
}

}  // namespace edgerag
