#include "format/gguf.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <limits>

#include "util/error.h"

namespace edgerag {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxStringLen = 1ull << 30;
constexpr int kMaxArrayDepth = 4;

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

// Sequential, bounds-checked reader over the mapped bytes.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* p, size_t n) : path_(path), p_(p), n_(n) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }

  void need(size_t k, const char* what) {
    if (k > remaining()) fail("{}: truncated file: {} needs {} bytes at offset {}, {} left", path_, what, k, pos_, remaining());
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    if (len > kMaxStringLen || len > remaining())
      fail("{}: corrupt file: {} string length {} exceeds the {} bytes left at offset {}", path_, what, len, remaining(), pos_);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }

  GgufValue read_value(GgufType t, const std::string& key, int depth) {
    GgufValue v;
    v.type = t;
    switch (t) {
      case GgufType::U8: v.i = read<uint8_t>("value"); break;
      case GgufType::I8: v.i = read<int8_t>("value"); break;
      case GgufType::U16: v.i = read<uint16_t>("value"); break;
      case GgufType::I16: v.i = read<int16_t>("value"); break;
      case GgufType::U32: v.i = read<uint32_t>("value"); break;
      case GgufType::I32: v.i = read<int32_t>("value"); break;
      case GgufType::U64: v.i = static_cast<int64_t>(read<uint64_t>("value")); break;
      case GgufType::I64: v.i = read<int64_t>("value"); break;
      case GgufType::BOOL: {
        uint8_t b = read<uint8_t>("value");
        if (b > 1) fail("{}: corrupt file: key '{}' has bool value {}", path_, key, b);
        v.i = b;
        break;
      }
      case GgufType::F32: v.f = read<float>("value"); break;
      case GgufType::F64: v.f = read<double>("value"); break;
      case GgufType::STRING: v.s = read_string("string value"); break;
      case GgufType::ARRAY: {
        if (depth >= kMaxArrayDepth) fail("{}: corrupt file: key '{}' nests arrays deeper than {}", path_, key, kMaxArrayDepth);
        uint32_t et = read<uint32_t>("array type");
        uint64_t count = read<uint64_t>("array length");
        v.array_type = static_cast<GgufType>(et);
        if (et > static_cast<uint32_t>(GgufType::F64)) fail("{}: corrupt file: key '{}' has unknown array element type {}", path_, key, et);
        // Every element takes at least one byte (strings 8): bound the count by what is left.
        size_t min_elem = v.array_type == GgufType::STRING ? 8 : v.array_type == GgufType::ARRAY ? 12 : scalar_size(v.array_type);
        if (count > remaining() / min_elem)
          fail("{}: corrupt file: key '{}' claims {} array elements, more than the file can hold", path_, key, count);
        if (v.array_type == GgufType::STRING) {
          v.strs.reserve(count);
          for (uint64_t k = 0; k < count; ++k) v.strs.push_back(read_string("array string"));
        } else if (v.array_type == GgufType::ARRAY) {
          for (uint64_t k = 0; k < count; ++k) v.items.push_back(read_value(GgufType::ARRAY, key, depth + 1));
        } else if (v.array_type == GgufType::F32 || v.array_type == GgufType::F64) {
          v.floats.reserve(count);
          for (uint64_t k = 0; k < count; ++k) v.floats.push_back(read_value(v.array_type, key, depth + 1).f);
        } else {
          v.ints.reserve(count);
          for (uint64_t k = 0; k < count; ++k) v.ints.push_back(read_value(v.array_type, key, depth + 1).i);
        }
        break;
      }
      default: fail("{}: corrupt file: key '{}' has unknown value type {}", path_, key, static_cast<uint32_t>(t));
    }
    return v;
  }

 private:
  const std::string& path_;
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

}  // namespace

bool GgufValue::is_int() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
    case GgufType::I32: case GgufType::U64: case GgufType::I64: case GgufType::BOOL: return true;
    default: return false;
  }
}

size_t GgufValue::array_size() const { return strs.size() + ints.size() + floats.size() + items.size(); }

std::string GgufTensor::shape_string() const {
  std::string s = "[";
  for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "]";
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path, FileAccess access) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->map_ = std::make_unique<MappedFile>(path, access);
  f->parse();
  return f;
}

void GgufFile::parse() {
  Cursor c(path_, map_->data(), map_->size());
  if (map_->size() < 24) fail("{}: not a GGUF file (only {} bytes)", path_, map_->size());
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) fail("{}: not a GGUF file (bad magic 0x{:08x})", path_, magic);
  version_ = c.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) fail("{}: unsupported GGUF version {} (2 and 3 are supported)", path_, version_);
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key-value pair takes >= 13 bytes and a tensor info >= 24: reject absurd counts before allocating.
  if (n_kv > c.remaining() / 13) fail("{}: truncated or corrupt file: {} metadata entries cannot fit in {} bytes", path_, n_kv, map_->size());
  if (n_tensors > c.remaining() / 24) fail("{}: truncated or corrupt file: {} tensors cannot fit in {} bytes", path_, n_tensors, map_->size());

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string("metadata key");
    auto type = static_cast<GgufType>(c.read<uint32_t>("value type"));
    GgufValue v = c.read_value(type, key, 0);
    if (kv_.count(key)) fail("{}: corrupt file: duplicate metadata key '{}'", path_, key);
    kv_order_.push_back(key);
    kv_.emplace(std::move(key), std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_int() || a->i <= 0 || a->i > (1 << 20) || (a->i & (a->i - 1)))
      fail("{}: corrupt file: general.alignment must be a power of two", path_);
    alignment_ = static_cast<size_t>(a->i);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    t.name = c.read_string("tensor name");
    t.n_dims = static_cast<int>(c.read<uint32_t>("tensor dims"));
    if (t.n_dims < 1 || t.n_dims > 4) fail("{}: corrupt file: tensor '{}' has {} dimensions", path_, t.name, t.n_dims);
    int64_t total = 1;
    for (int d = 0; d < t.n_dims; ++d) {
      uint64_t ne = c.read<uint64_t>("tensor shape");
      if (ne == 0 || ne > (1ull << 40) || static_cast<uint64_t>(total) > (1ull << 42) / ne)
        fail("{}: corrupt file: tensor '{}' has an absurd shape", path_, t.name);
      t.ne[d] = static_cast<int64_t>(ne);
      total *= t.ne[d];
    }
    uint32_t type = c.read<uint32_t>("tensor type");
    t.type = static_cast<DType>(type);
    const DTypeTraits& tr = dtype_traits(t.type);
    if (tr.block_size == 0) fail("{}: tensor '{}' has unknown type id {}", path_, t.name, type);
    if (t.ne[0] % tr.block_size != 0)
      fail("{}: corrupt file: tensor '{}' row of {} is not a multiple of the {} block size {}", path_, t.name, t.ne[0], tr.name, tr.block_size);
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0) fail("{}: corrupt file: tensor '{}' offset {} is not aligned to {}", path_, t.name, t.offset, alignment_);
    t.nbytes = row_size(t.type, t.ne[0]) * static_cast<size_t>(t.n_rows());
    if (tensor_index_.count(t.name)) fail("{}: corrupt file: duplicate tensor '{}'", path_, t.name);
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }

  size_t data_start = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > map_->size() && !tensors_.empty()) fail("{}: truncated file: no tensor data section", path_);
  size_t data_size = data_start <= map_->size() ? map_->size() - data_start : 0;
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail("{}: truncated or corrupt file: tensor '{}' ({} bytes at offset {}) lies outside the {}-byte data section", path_,
           t.name, t.nbytes, t.offset, data_size);
    t.data = map_->data() + data_start + t.offset;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

std::string GgufFile::get_string(const std::string& key, const std::string& def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (v->type != GgufType::STRING) fail("{}: metadata '{}' is not a string", path_, key);
  return v->s;
}

int64_t GgufFile::get_int(const std::string& key, int64_t def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (!v->is_int()) fail("{}: metadata '{}' is not an integer", path_, key);
  return v->i;
}

double GgufFile::get_float(const std::string& key, double def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (v->is_float()) return v->f;
  if (v->is_int()) return static_cast<double>(v->i);
  fail("{}: metadata '{}' is not a number", path_, key);
}

bool GgufFile::get_bool(const std::string& key, bool def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  if (!v->is_int()) fail("{}: metadata '{}' is not a bool", path_, key);
  return v->i != 0;
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  static const std::vector<std::string> empty;
  const GgufValue* v = find(key);
  if (!v) return empty;
  if (v->type != GgufType::ARRAY || v->array_type != GgufType::STRING) fail("{}: metadata '{}' is not a string array", path_, key);
  return v->strs;
}

std::vector<double> GgufFile::get_float_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return {};
  if (v->type != GgufType::ARRAY) fail("{}: metadata '{}' is not an array", path_, key);
  if (!v->floats.empty() || v->ints.empty()) return v->floats;
  return std::vector<double>(v->ints.begin(), v->ints.end());
}

std::vector<int64_t> GgufFile::get_int_array(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return {};
  if (v->type != GgufType::ARRAY || !v->floats.empty() || !v->strs.empty()) fail("{}: metadata '{}' is not an integer array", path_, key);
  return v->ints;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find_tensor(name);
  if (!t) fail("{}: missing tensor '{}'", path_, name);
  return *t;
}

// ---------------------------------------------------------------- writer

GgufValue gguf_int(GgufType t, int64_t v) {
  GgufValue g;
  g.type = t;
  g.i = v;
  return g;
}
GgufValue gguf_float(GgufType t, double v) {
  GgufValue g;
  g.type = t;
  g.f = v;
  return g;
}
GgufValue gguf_string(std::string v) {
  GgufValue g;
  g.type = GgufType::STRING;
  g.s = std::move(v);
  return g;
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key == "general.alignment") alignment_ = static_cast<size_t>(value.i);
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}
void GgufWriter::set_string(const std::string& key, const std::string& v) { set(key, gguf_string(v)); }
void GgufWriter::set_u32(const std::string& key, uint32_t v) { set(key, gguf_int(GgufType::U32, v)); }
void GgufWriter::set_i32(const std::string& key, int32_t v) { set(key, gguf_int(GgufType::I32, v)); }
void GgufWriter::set_u64(const std::string& key, uint64_t v) { set(key, gguf_int(GgufType::U64, static_cast<int64_t>(v))); }
void GgufWriter::set_f32(const std::string& key, float v) { set(key, gguf_float(GgufType::F32, v)); }
void GgufWriter::set_bool(const std::string& key, bool v) { set(key, gguf_int(GgufType::BOOL, v)); }
void GgufWriter::set_string_array(const std::string& key, std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.array_type = GgufType::STRING;
  g.strs = std::move(v);
  set(key, std::move(g));
}
void GgufWriter::set_i32_array(const std::string& key, std::vector<int64_t> v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.array_type = GgufType::I32;
  g.ints = std::move(v);
  set(key, std::move(g));
}
void GgufWriter::set_f32_array(const std::string& key, std::vector<double> v) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.array_type = GgufType::F32;
  g.floats = std::move(v);
  set(key, std::move(g));
}

void GgufWriter::copy_metadata(const GgufFile& src) {
  for (const auto& key : src.metadata_keys()) {
    bool present = false;
    for (auto& kv : kv_) present |= kv.first == key;
    if (!present) set(key, *src.find(key));
  }
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> ne, const void* data, size_t nbytes) {
  EDGERAG_CHECK(!ne.empty() && ne.size() <= 4, "gguf writer: tensor '{}' needs 1..4 dims", name);
  int64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
  size_t expect = row_size(type, ne[0]) * static_cast<size_t>(rows);
  EDGERAG_CHECK(expect == nbytes, "gguf writer: tensor '{}' has {} bytes, expected {}", name, nbytes, expect);
  Pending p{name, type, std::move(ne), {}};
  p.data.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + nbytes);
  tensors_.push_back(std::move(p));
}

namespace {
struct Out {
  std::vector<uint8_t> buf;
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    buf.insert(buf.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    buf.insert(buf.end(), s.begin(), s.end());
  }
  void put_scalar(GgufType t, const GgufValue& v) {
    switch (t) {
      case GgufType::U8: put<uint8_t>(static_cast<uint8_t>(v.i)); break;
      case GgufType::I8: put<int8_t>(static_cast<int8_t>(v.i)); break;
      case GgufType::U16: put<uint16_t>(static_cast<uint16_t>(v.i)); break;
      case GgufType::I16: put<int16_t>(static_cast<int16_t>(v.i)); break;
      case GgufType::U32: put<uint32_t>(static_cast<uint32_t>(v.i)); break;
      case GgufType::I32: put<int32_t>(static_cast<int32_t>(v.i)); break;
      case GgufType::U64: put<uint64_t>(static_cast<uint64_t>(v.i)); break;
      case GgufType::I64: put<int64_t>(v.i); break;
      case GgufType::BOOL: put<uint8_t>(v.i ? 1 : 0); break;
      case GgufType::F32: put<float>(static_cast<float>(v.f)); break;
      case GgufType::F64: put<double>(v.f); break;
      case GgufType::STRING: put_string(v.s); break;
      case GgufType::ARRAY: put_array(v); break;
    }
  }
  void put_array(const GgufValue& v) {
    put<uint32_t>(static_cast<uint32_t>(v.array_type));
    put<uint64_t>(v.array_size());
    for (const auto& s : v.strs) put_string(s);
    for (const auto& it : v.items) put_scalar(GgufType::ARRAY, it);
    GgufValue tmp;
    for (double f : v.floats) { tmp.f = f; put_scalar(v.array_type, tmp); }
    for (int64_t i : v.ints) { tmp.i = i; put_scalar(v.array_type, tmp); }
  }
  void pad(size_t align) {
    while (buf.size() % align) buf.push_back(0);
  }
};
}  // namespace

void GgufWriter::write(const std::string& path) const {
  Out o;
  o.put<uint32_t>(kMagic);
  o.put<uint32_t>(3);
  o.put<uint64_t>(tensors_.size());
  o.put<uint64_t>(kv_.size());
  for (const auto& [key, v] : kv_) {
    o.put_string(key);
    o.put<uint32_t>(static_cast<uint32_t>(v.type));
    o.put_scalar(v.type, v);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    o.put_string(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t n : t.ne) o.put<uint64_t>(static_cast<uint64_t>(n));
    o.put<uint32_t>(static_cast<uint32_t>(t.type));
    o.put<uint64_t>(offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  o.pad(alignment_);

  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail("{}: cannot write", tmp);
  bool ok = std::fwrite(o.buf.data(), 1, o.buf.size(), f) == o.buf.size();
  static const uint8_t zeros[64] = {};
  for (const auto& t : tensors_) {
    ok = ok && std::fwrite(t.data.data(), 1, t.data.size(), f) == t.data.size();
    size_t padn = (alignment_ - t.data.size() % alignment_) % alignment_;
    while (ok && padn) {
      size_t k = std::min(padn, sizeof(zeros));
      ok = std::fwrite(zeros, 1, k, f) == k;
      padn -= k;
    }
  }
  ok = (std::fflush(f) == 0) && ok && fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail("{}: write failed", path);
  }
}

}  // namespace edgerag
