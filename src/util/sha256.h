// SHA-256 through OpenSSL's libcrypto, as lowercase hex: API key digests,
// downloaded-file checksums and the content hashes of ingested files.
#pragma once
#include <string>
#include <string_view>

namespace edgerag {

std::string sha256_hex(std::string_view data);
std::string sha256_file_hex(const std::string& path);  // streamed; Error if unreadable

}  // namespace edgerag
