#include "server/http_framing.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace edgerag::server {
namespace {

bool is_tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }
int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// %XX escapes decoded, as httplib decodes the path it routes on.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex_value(s[i + 1])) >= 0 && (lo = hex_value(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string_view RequestHead::get(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

RequestFramer::Status RequestFramer::fail(int status, std::string message) {
  error_status_ = status;
  error_ = std::move(message);
  return Status::Error;
}

RequestFramer::Status RequestFramer::advance(std::string_view buf) {
  if (error_status_) return Status::Error;
  if (end_) return Status::Complete;
  if (!head_done_) {
    // Every line must end in CRLF: a bare LF would make the two ends of this
    // check (here and in httplib) disagree on where the head stops.
    size_t i = scanned_;
    for (; i < buf.size(); ++i) {
      if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) return fail(400, "malformed request: bare LF in the head");
      if (i > 0 && buf[i - 1] == '\r' && buf[i] != '\n') return fail(400, "malformed request: bare CR in the head");
      if (i >= 3 && buf.compare(i - 3, 4, "\r\n\r\n") == 0) break;
    }
    if (i == buf.size()) {
      scanned_ = buf.size();
      if (buf.size() > limits_.max_head_bytes)
        return fail(431, fmt::format("request head exceeds {} bytes", limits_.max_head_bytes));
      return Status::NeedMore;
    }
    if (i + 1 > limits_.max_head_bytes) return fail(431, fmt::format("request head exceeds {} bytes", limits_.max_head_bytes));
    head_.bytes = i + 1;
    scanned_ = head_.bytes;
    if (Status s = parse_head(buf.substr(0, head_.bytes)); s == Status::Error) return s;
    head_done_ = true;
  }
  if (head_.chunked) return advance_chunked(buf);
  if (buf.size() - head_.bytes < head_.content_length) return Status::NeedMore;
  end_ = head_.bytes + head_.content_length;
  return Status::Complete;
}

RequestFramer::Status RequestFramer::parse_head(std::string_view head) {
  // Request line: METHOD SP target SP HTTP/x.y
  const size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp2 == sp1) return fail(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
    return fail(400, "malformed request method");
  if (target.size() > limits_.max_target_bytes)
    return fail(414, fmt::format("request target exceeds {} bytes", limits_.max_target_bytes));
  if (target.empty() || target[0] != '/' ||
      std::any_of(target.begin(), target.end(), [](char c) { return c == ' ' || is_ctl(static_cast<unsigned char>(c)); }))
    return fail(400, "malformed request target");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && std::isdigit(static_cast<unsigned char>(version[5])) &&
        version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])))
      return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    return fail(400, "malformed HTTP version");
  }
  head_.method = std::string(method);
  head_.path = percent_decode(target.substr(0, target.find('?')));
  head_.version = std::string(version);

  // Header fields.
  std::vector<std::string> codings;
  bool has_length = false;
  for (size_t at = eol + 2; at + 2 < head.size();) {
    const size_t end = head.find("\r\n", at);
    const std::string_view field = head.substr(at, end - at);
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail(400, "malformed header field");
    const std::string_view name = field.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
      return fail(400, "malformed header field name");  // also catches obs-fold and whitespace before ':'
    const std::string_view value = trim(field.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) { return c != '\t' && is_ctl(static_cast<unsigned char>(c)); }))
      return fail(400, "control character in a header value");
    if (head_.headers.size() >= limits_.max_headers)
      return fail(431, fmt::format("more than {} header fields", limits_.max_headers));
    std::string key = lower(name);
    if (key == "content-length") {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return fail(400, fmt::format("invalid Content-Length '{}'", value));
      const uint64_t n = std::stoull(std::string(value));
      if (has_length && n != head_.content_length) return fail(400, "conflicting Content-Length headers");
      has_length = true;
      head_.content_length = n;
    } else if (key == "transfer-encoding") {
      for (size_t from = 0; from <= value.size();) {
        size_t comma = value.find(',', from);
        if (comma == std::string_view::npos) comma = value.size();
        const std::string coding = lower(trim(value.substr(from, comma - from)));
        if (coding.empty() ||
            !std::all_of(coding.begin(), coding.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); }))
          return fail(400, "malformed Transfer-Encoding");
        codings.push_back(coding);
        from = comma + 1;
      }
    } else if (key == "content-encoding") {
      if (lower(value) != "identity") return fail(415, fmt::format("unsupported Content-Encoding '{}'", value));
    } else if (key == "expect") {
      if (lower(value) != "100-continue") return fail(417, fmt::format("unsupported Expect '{}'", value));
      head_.expect_continue = true;
      head_.expect_line = {at, end + 2};
    }
    head_.headers.emplace_back(std::move(key), std::string(value));
    at = end + 2;
  }
  if (!codings.empty()) {
    if (has_length) return fail(400, "both Content-Length and Transfer-Encoding");
    if (head_.version == "HTTP/1.0") return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    for (const auto& c : codings)
      if (c != "chunked") return fail(501, fmt::format("unsupported Transfer-Encoding '{}'", c));
    if (codings.size() > 1) return fail(400, "chunked applied more than once");
    head_.chunked = true;
  } else if (head_.content_length > limits_.max_body_bytes) {
    return fail(413, fmt::format("request body exceeds {} bytes", limits_.max_body_bytes));
  }
  return Status::NeedMore;
}

RequestFramer::Status RequestFramer::advance_chunked(std::string_view buf) {
  size_t i = std::max(scanned_, head_.bytes);
  while (i < buf.size()) {
    const auto c = static_cast<unsigned char>(buf[i]);
    switch (chunk_) {
      case Chunk::Size:
        if (int h = hex_value(c); h >= 0) {
          if (++size_digits_ > 15) return fail(400, "chunk size too large");
          chunk_left_ = chunk_left_ * 16 + static_cast<uint64_t>(h);
        } else if (size_digits_ > 0 && (c == ';' || c == '\r')) {
          chunk_ = c == ';' ? Chunk::Ext : Chunk::SizeLf;
          line_bytes_ = 0;
        } else {
          return fail(400, "malformed chunk size");
        }
        break;
      case Chunk::Ext:
        if (c == '\r') chunk_ = Chunk::SizeLf;
        else if ((c != '\t' && is_ctl(c)) || ++line_bytes_ > 4096) return fail(400, "malformed chunk extension");
        break;
      case Chunk::SizeLf:
        if (c != '\n') return fail(400, "malformed chunk size line");
        if (chunk_left_ == 0) {
          chunk_ = Chunk::Trailer;
          line_bytes_ = 0;
          break;
        }
        body_bytes_ += chunk_left_;
        if (body_bytes_ > limits_.max_body_bytes)
          return fail(413, fmt::format("request body exceeds {} bytes", limits_.max_body_bytes));
        chunk_ = Chunk::Data;
        break;
      case Chunk::Data: {
        const uint64_t take = std::min<uint64_t>(chunk_left_, buf.size() - i);
        chunk_left_ -= take;
        i += take;
        if (chunk_left_ == 0) chunk_ = Chunk::DataCr;
        continue;
      }
      case Chunk::DataCr:
        if (c != '\r') return fail(400, "chunk data longer than its size");
        chunk_ = Chunk::DataLf;
        break;
      case Chunk::DataLf:
        if (c != '\n') return fail(400, "malformed chunk end");
        chunk_ = Chunk::Size;
        size_digits_ = 0;
        break;
      case Chunk::Trailer:
        if (c == '\r') chunk_ = Chunk::TrailerLf;
        else if (c != '\t' && is_ctl(c)) return fail(400, "malformed chunked trailer");
        else ++line_bytes_;
        if (++trailer_bytes_ > limits_.max_head_bytes) return fail(431, "chunked trailer too large");
        break;
      case Chunk::TrailerLf:
        if (c != '\n') return fail(400, "malformed chunked trailer");
        if (line_bytes_ == 0) {
          end_ = i + 1;
          chunk_ = Chunk::Done;
          return Status::Complete;
        }
        chunk_ = Chunk::Trailer;
        line_bytes_ = 0;
        break;
      case Chunk::Done:
        return Status::Complete;
    }
    ++i;
  }
  scanned_ = i;
  return Status::NeedMore;
}

}  // namespace edgerag::server
