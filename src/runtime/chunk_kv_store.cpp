#include "runtime/chunk_kv_store.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "util/error.h"
#include "util/sha256.h"

namespace edgerag {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'E', 'R', 'C', 'H', 'K', 'V', '0', '1'};
constexpr size_t kMaxChunkBytes = size_t{1} << 30;  // a file claiming more is rejected unread
constexpr const char* kExt = ".chunkkv";

struct Header {
  char magic[8];
  int32_t kivi_bits, row_type, keep_leading;
  int32_t n_layer, n_head_kv, head_dim, n_tokens, pos;
  uint64_t data_bytes;
};

bool is_hex_key(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

}  // namespace

std::string serialize_chunk(const ChunkKv& c) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.kivi_bits = c.type.kivi_bits, h.row_type = static_cast<int32_t>(c.type.row), h.keep_leading = c.type.keep_leading;
  h.n_layer = c.n_layer, h.n_head_kv = c.n_head_kv, h.head_dim = c.head_dim, h.n_tokens = c.n_tokens, h.pos = c.pos;
  h.data_bytes = c.data.size();
  std::string out(serialized_size(c), '\0');
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, c.data.data(), c.data.size());
  return out;
}

size_t serialized_size(const ChunkKv& c) { return sizeof(Header) + c.data.size(); }

ChunkKv parse_chunk(std::string_view bytes) {
  Header h;
  EDGERAG_CHECK(bytes.size() >= sizeof h, "chunk KV file: {} bytes is shorter than its header", bytes.size());
  std::memcpy(&h, bytes.data(), sizeof h);
  EDGERAG_CHECK(std::memcmp(h.magic, kMagic, sizeof kMagic) == 0, "chunk KV file: bad magic");
  ChunkKv c;
  if (h.kivi_bits != 0) {
    c.type = KvType::kivi(h.kivi_bits, h.keep_leading);  // checks the bits
  } else {
    EDGERAG_CHECK(h.row_type >= 0 && h.row_type < static_cast<int32_t>(kDTypeIdEnd), "chunk KV file: bad row type {}",
                  h.row_type);
    c.type = KvType(static_cast<DType>(h.row_type));
    EDGERAG_CHECK(dtype_traits(c.type.row).supported && dtype_traits(c.type.row).block_size > 0 &&
                      h.head_dim > 0 && h.head_dim % dtype_traits(c.type.row).block_size == 0,
                  "chunk KV file: row type {} cannot hold rows of {} values", h.row_type, h.head_dim);
  }
  constexpr int32_t kMaxDim = 1 << 16;
  EDGERAG_CHECK(h.n_layer > 0 && h.n_layer <= 1024 && h.n_head_kv > 0 && h.n_head_kv <= 1024 && h.head_dim > 0 &&
                    h.head_dim <= kMaxDim && h.n_tokens > 0 && h.n_tokens <= kMaxDim && h.pos >= 0 && h.pos <= (1 << 24),
                "chunk KV file: implausible shape ({} layers, {} KV heads, head dim {}, {} tokens at {})", h.n_layer,
                h.n_head_kv, h.head_dim, h.n_tokens, h.pos);
  c.n_layer = h.n_layer, c.n_head_kv = h.n_head_kv, c.head_dim = h.head_dim, c.n_tokens = h.n_tokens, c.pos = h.pos;
  const uint64_t expect = static_cast<uint64_t>(c.n_layer) * 2 * c.n_head_kv * c.n_tokens * c.row_bytes();
  EDGERAG_CHECK(h.data_bytes == expect && expect <= kMaxChunkBytes && bytes.size() == sizeof h + expect,
                "chunk KV file: {} data bytes for a shape that needs {} (file of {} bytes)", h.data_bytes, expect,
                bytes.size());
  c.data.assign(bytes.begin() + sizeof h, bytes.end());
  return c;
}

ChunkKvStore::ChunkKvStore(ChunkKvStoreOptions opt) : opt_(std::move(opt)) {
  if (opt_.dir.empty()) return;
  std::error_code ec;
  fs::create_directories(opt_.dir, ec);
  EDGERAG_CHECK(!ec && fs::is_directory(opt_.dir), "chunk KV store: cannot use directory {}: {}", opt_.dir,
                ec.message());
  // Existing files, most recently written first (becomes the LRU order).
  std::vector<std::tuple<fs::file_time_type, std::string, size_t>> found;
  for (const auto& e : fs::directory_iterator(opt_.dir, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code ec2;
    if (!e.is_regular_file(ec2) || !name.ends_with(kExt)) continue;
    const std::string key = name.substr(0, name.size() - std::strlen(kExt));
    if (!is_hex_key(key)) continue;
    found.emplace_back(e.last_write_time(ec2), key, static_cast<size_t>(e.file_size(ec2)));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  for (const auto& [t, key, bytes] : found) {
    disk_lru_.push_back({key, bytes});
    disk_[key] = std::prev(disk_lru_.end());
    stats_.disk_bytes += bytes;
  }
}

std::string ChunkKvStore::key(std::string_view model_id, const KvType& type, std::span<const int32_t> context,
                              std::span<const int32_t> chunk) {
  std::string buf;
  buf.reserve(model_id.size() + 32 + 4 * (context.size() + chunk.size()));
  buf.append(model_id).push_back('\0');
  buf.append(type.name()).push_back('\0');
  buf.append(std::to_string(type.keep_leading)).push_back('\0');
  auto add = [&buf](std::span<const int32_t> t) {
    buf.append(std::to_string(t.size())).push_back(':');
    buf.append(reinterpret_cast<const char*>(t.data()), t.size() * sizeof(int32_t));
  };
  add(context);
  add(chunk);
  return sha256_hex(buf);
}

std::string ChunkKvStore::file_path(const std::string& key) const { return opt_.dir + "/" + key + kExt; }

std::shared_ptr<const ChunkKv> ChunkKvStore::find(const std::string& key) {
  std::lock_guard lock(mu_);
  if (auto it = ram_.find(key); it != ram_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.hits;
    return it->second->chunk;
  }
  if (auto chunk = read_file(key)) {
    ++stats_.hits, ++stats_.disk_hits;
    keep_in_ram(key, chunk);
    return chunk;
  }
  ++stats_.misses;
  return nullptr;
}

void ChunkKvStore::put(const std::string& key, std::shared_ptr<const ChunkKv> chunk) {
  EDGERAG_CHECK(chunk != nullptr, "chunk KV store: null chunk");
  std::lock_guard lock(mu_);
  if (!opt_.dir.empty() && !disk_.count(key)) write_file(key, *chunk);
  keep_in_ram(key, std::move(chunk));
}

void ChunkKvStore::keep_in_ram(const std::string& key, std::shared_ptr<const ChunkKv> chunk) {
  if (auto it = ram_.find(key); it != ram_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  const size_t bytes = chunk->bytes();
  if (bytes > opt_.ram_bytes) return;
  while (stats_.ram_bytes + bytes > opt_.ram_bytes) {
    stats_.ram_bytes -= lru_.back().chunk->bytes();
    ram_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evictions;
  }
  lru_.push_front({key, std::move(chunk)});
  ram_[key] = lru_.begin();
  stats_.ram_bytes += bytes;
}

void ChunkKvStore::write_file(const std::string& key, const ChunkKv& chunk) {
  const std::string bytes = serialize_chunk(chunk);
  if (bytes.size() > opt_.disk_bytes) return;
  while (stats_.disk_bytes + bytes.size() > opt_.disk_bytes && !disk_lru_.empty()) {
    std::error_code ec;
    fs::remove(file_path(disk_lru_.back().key), ec);
    stats_.disk_bytes -= disk_lru_.back().bytes;
    disk_.erase(disk_lru_.back().key);
    disk_lru_.pop_back();
  }
  // Unique temporary name in the same directory, then rename: atomic on POSIX.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = file_path(key) + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return;  // a full or read-only disk costs recomputation, not the request
    }
  }
  std::error_code ec;
  fs::rename(tmp, file_path(key), ec);
  if (ec) {
    fs::remove(tmp, ec);
    return;
  }
  disk_lru_.push_front({key, bytes.size()});
  disk_[key] = disk_lru_.begin();
  stats_.disk_bytes += bytes.size();
  ++stats_.disk_writes;
}

std::shared_ptr<const ChunkKv> ChunkKvStore::read_file(const std::string& key) {
  auto it = disk_.find(key);
  if (it == disk_.end()) return nullptr;
  auto drop = [&] {
    stats_.disk_bytes -= it->second->bytes;
    disk_lru_.erase(it->second);
    disk_.erase(it);
  };
  std::error_code ec;
  const auto size = fs::file_size(file_path(key), ec);
  if (ec || size > kMaxChunkBytes + 64) {  // deleted behind our back, or not ours
    drop();
    return nullptr;
  }
  std::ifstream in(file_path(key), std::ios::binary);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    drop();
    return nullptr;
  }
  try {
    auto chunk = std::make_shared<const ChunkKv>(parse_chunk(bytes));
    disk_lru_.splice(disk_lru_.begin(), disk_lru_, it->second);
    return chunk;
  } catch (const Error&) {
    ++stats_.disk_rejects;
    fs::remove(file_path(key), ec);  // corrupt: recompute and rewrite
    drop();
    return nullptr;
  }
}

bool ChunkKvStore::contains(const std::string& key) const {
  std::lock_guard lock(mu_);
  return ram_.count(key) || disk_.count(key);
}

bool ChunkKvStore::disk_has_room(const ChunkKv& chunk) const {
  std::lock_guard lock(mu_);
  return !opt_.dir.empty() && stats_.disk_bytes + serialized_size(chunk) <= opt_.disk_bytes;
}

ChunkKvStoreStats ChunkKvStore::stats() const {
  std::lock_guard lock(mu_);
  ChunkKvStoreStats s = stats_;
  s.chunks = ram_.size();
  return s;
}

}  // namespace edgerag
