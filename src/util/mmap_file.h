// Read-only view of a whole file: a memory mapping (weights stay in the page
// cache, shared between processes) or, for large weight files, a private copy
// in transparent-huge-page memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace edgerag {

enum class FileAccess {
  kMapped,           // mmap the file: zero copy, pages fault in lazily
  kPreferHugePages,  // files >= 64 MiB are read into 2 MiB-page anonymous memory when
                     // the kernel offers transparent huge pages (and EDGERAG_MMAP is
                     // not 1); smaller files, or no THP, fall back to kMapped
};

class MappedFile {
 public:
  explicit MappedFile(const std::string& path, FileAccess access = FileAccess::kMapped);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  bool huge_pages() const { return huge_pages_; }  // true when the data is a huge-page copy

  // Makes the bytes writable (pages stay private: the huge-page copy, or
  // copy-on-write file pages; the file never changes) or read-only again, for
  // in-place load-time transforms of the weights (tensor/repack.h).
  void set_writable(bool on);

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool huge_pages_ = false;
};

}  // namespace edgerag
