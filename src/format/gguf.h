// GGUF v2/v3 model files: a bounds-checked reader over mmap (tensor data is
// never copied) and a writer used by the quantizer and the synthetic-model
// generator. Layout per the GGUF specification (little-endian).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "util/mmap_file.h"

namespace edgerag {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// One metadata value. Scalars use the field matching their kind; arrays keep
// their elements in `strs` (string arrays), `ints` (integer/bool arrays),
// `floats` (float arrays) or `items` (arrays of arrays).
struct GgufValue {
  GgufType type = GgufType::U8;
  GgufType array_type = GgufType::U8;
  int64_t i = 0;  // every integer and bool scalar (u64 values above INT64_MAX wrap)
  double f = 0;   // F32/F64 scalars
  std::string s;
  std::vector<std::string> strs;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<GgufValue> items;

  bool is_int() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  size_t array_size() const;
};

struct GgufTensor {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] = elements per row (columns)
  uint64_t offset = 0;           // relative to the data section
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  std::string shape_string() const;
};

class GgufFile {
 public:
  // Opens and validates `path`; throws edgerag::Error naming the file and problem.
  // Model loaders pass FileAccess::kPreferHugePages (see util/mmap_file.h).
  static std::unique_ptr<GgufFile> open(const std::string& path, FileAccess access = FileAccess::kMapped);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t file_size() const { return map_->size(); }
  // True when the bytes are a private huge-page copy rather than the page cache's.
  bool private_copy() const { return map_->huge_pages(); }
  // See MappedFile::set_writable: for a model that holds this file alone.
  void set_writable(bool on) { map_->set_writable(on); }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const std::vector<std::string>& metadata_keys() const { return kv_order_; }
  const GgufValue* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }

  // Typed accessors: throw if present with the wrong kind, return the default when absent.
  std::string get_string(const std::string& key, const std::string& def = "") const;
  int64_t get_int(const std::string& key, int64_t def) const;
  double get_float(const std::string& key, double def) const;
  bool get_bool(const std::string& key, bool def) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;  // empty if absent
  std::vector<double> get_float_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(const std::string& name) const;
  const GgufTensor& tensor(const std::string& name) const;  // throws if missing

 private:
  GgufFile() = default;
  void parse();

  std::string path_;
  std::unique_ptr<MappedFile> map_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<std::string> kv_order_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// Builds a GGUF v3 file in memory order and writes it atomically (temp + rename).
class GgufWriter {
 public:
  void set(const std::string& key, GgufValue value);
  void set_string(const std::string& key, const std::string& v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string_array(const std::string& key, std::vector<std::string> v);
  void set_i32_array(const std::string& key, std::vector<int64_t> v);
  void set_f32_array(const std::string& key, std::vector<double> v);
  // Copies every metadata key of `src` (e.g. the tokenizer) except those already set.
  void copy_metadata(const GgufFile& src);

  // `data` must hold row_size(type, ne[0]) * rows bytes; it is copied.
  void add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes);

  void write(const std::string& path) const;

 private:
  struct Pending {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Pending> tensors_;
  size_t alignment_ = 32;
};

// Helpers for building scalar values.
GgufValue gguf_int(GgufType t, int64_t v);
GgufValue gguf_float(GgufType t, double v);
GgufValue gguf_string(std::string v);

}  // namespace edgerag
