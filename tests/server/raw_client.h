// A raw TCP client for the server tests: sends exactly the bytes an attacker
// would (partial heads, bad framing, pipelined requests) and reads responses
// off the wire.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>

namespace edgerag::server::test_support {

struct RawResponse {
  int status = 0;  // 0: none (closed or timed out)
  std::string head, body;
};

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  bool send(std::string_view s) {
    while (!s.empty()) {
      const ssize_t k = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (k <= 0) return false;
      s.remove_prefix(static_cast<size_t>(k));
    }
    return true;
  }
  // One response (head, then a Content-Length body), waiting at most timeout_ms in all.
  RawResponse read_response(int timeout_ms = 5000) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    RawResponse r;
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(until)) return r;
    r.head = buf_.substr(0, head_end + 4);
    buf_.erase(0, head_end + 4);
    if (r.head.rfind("HTTP/1.", 0) == 0 && r.head.size() > 12) r.status = std::stoi(r.head.substr(9, 3));
    size_t length = 0;
    if (const size_t at = r.head.find("Content-Length: "); at != std::string::npos) length = std::stoul(r.head.substr(at + 16));
    while (buf_.size() < length)
      if (!fill(until)) break;
    r.body = buf_.substr(0, length);
    buf_.erase(0, std::min(length, buf_.size()));
    return r;
  }
  // True when the server closes the connection within timeout_ms (data before the close is dropped).
  bool closed_within(int timeout_ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (fill(until)) buf_.clear();
    return eof_;
  }

 private:
  bool fill(std::chrono::steady_clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[65536];
    const ssize_t k = ::recv(fd_, tmp, sizeof tmp, 0);
    if (k <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<size_t>(k));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false, eof_ = false;
  std::string buf_;
};

}  // namespace edgerag::server::test_support
