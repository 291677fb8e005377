// safetensors checkpoints (Hugging Face): a bounds-checked reader over mmap.
// File layout: u64 little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the byte buffer the offsets index (relative to its start, 8 + N).
// Sharded checkpoints list their files in model.safetensors.index.json
// ({"weight_map": {tensor name: file name}}).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/mmap_file.h"

namespace edgerag {

enum class StDType { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

size_t st_dtype_size(StDType t);
const char* st_dtype_name(StDType t);

struct StTensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // outermost first (PyTorch order): a Linear weight is [out, in]
  const uint8_t* data = nullptr;  // inside the mapping; not necessarily aligned
  size_t nbytes = 0;

  int64_t n_elements() const;
  std::string shape_string() const;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`: header bounds, dtype names, shapes against byte
  // ranges, ranges inside the buffer and not overlapping. Throws edgerag::Error.
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  const std::vector<StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> map_;
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// The tensors of a checkpoint directory: the shards named by
// model.safetensors.index.json, else model.safetensors, else the directory's
// only *.safetensors file.
class SafetensorsSet {
 public:
  static SafetensorsSet open_dir(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const StTensor* find(const std::string& name) const;
  const StTensor& tensor(const std::string& name) const;  // throws naming the checkpoint
  std::vector<std::string> names() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*> index_;
};

// Element `i` of a floating-point tensor (F16, BF16, F32, F64) as float.
float st_float_at(const StTensor& t, int64_t i);
// Element `i` of an I32 tensor.
int32_t st_i32_at(const StTensor& t, int64_t i);

}  // namespace edgerag
