#include "server/http_front.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/api_error.h"

namespace edgerag::server {

namespace {

constexpr auto kLinger = std::chrono::seconds(2);  // after an error: read and drop input this long ...
constexpr size_t kLingerBytes = 1u << 20;          // ... or this much, so the client sees the answer, not a reset
constexpr int kHardExtra = 64;                     // refused-but-answered connections beyond the cap

const char* reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

// Writes all of `data` to a non-blocking socket, waiting at most `timeout_ms`
// for each bit of progress.
bool send_all(int fd, const char* data, size_t n, int timeout_ms) {
  while (n > 0) {
    const ssize_t k = ::send(fd, data, n, MSG_NOSIGNAL);
    if (k > 0) {
      data += k;
      n -= static_cast<size_t>(k);
      continue;
    }
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, timeout_ms) <= 0 || (p.revents & (POLLERR | POLLHUP))) return false;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

struct HttpFront::Conn {
  int fd = -1;
  std::string addr;
  int port = 0;
  std::string buf;          // received, not yet handed on
  RequestFramer framer;
  bool head_checked = false;
  bool idle = false;        // kept alive, no byte of the next request yet
  bool lingering = false;   // answered with an error; draining input before the close
  size_t drained = 0;
  Clock::time_point deadline;
  int served = 0;
  std::string request;      // the complete request a worker serves
  bool close_after = false; // set by the worker
};

namespace {

// One buffered request for httplib's processing: reads come from memory (the
// poller has read it all), writes go to the socket.
class BufferStream final : public httplib::Stream {
 public:
  BufferStream(const std::string& data, int fd, const std::string& addr, int port, int write_timeout_s)
      : data_(data), fd_(fd), addr_(addr), port_(port), timeout_ms_(write_timeout_s * 1000) {}
  bool is_readable() const override { return pos_ < data_.size(); }
  bool is_writable() const override {
    if (failed_) return false;
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, timeout_ms_) <= 0 || (p.revents & (POLLERR | POLLHUP))) return false;
    char b;
    const ssize_t k = ::recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return k != 0;  // 0: the client closed its side
  }
  ssize_t read(char* ptr, size_t size) override {
    size = std::min(size, data_.size() - pos_);
    std::memcpy(ptr, data_.data() + pos_, size);
    pos_ += size;
    return static_cast<ssize_t>(size);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (failed_ || !send_all(fd_, ptr, size, timeout_ms_)) {
      failed_ = true;
      return -1;
    }
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = addr_;
    port = port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ip.clear();
    port = 0;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      port = ntohs(a->sin6_port);
    }
    ip = text;
  }
  socket_t socket() const override { return fd_; }
  bool failed() const { return failed_; }

 private:
  const std::string& data_;
  size_t pos_ = 0;
  int fd_;
  const std::string& addr_;
  int port_;
  int timeout_ms_;
  bool failed_ = false;
};

}  // namespace

HttpFront::HttpFront(ConnectionLimits limits, HeadCheck check, OnError on_error)
    : limits_(limits), check_(std::move(check)), on_error_(std::move(on_error)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  set_payload_max_length(limits_.framing.max_body_bytes);
  set_keep_alive_max_count(static_cast<size_t>(limits_.max_requests_per_connection));
  set_keep_alive_timeout(limits_.keep_alive_timeout_s);
}

HttpFront::~HttpFront() {
  stop();
  if (svr_sock_ != INVALID_SOCKET) ::close(svr_sock_.exchange(INVALID_SOCKET));
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

int HttpFront::bind(const std::string& host, int port) {
  const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  if (bound < 0) return -1;
  // httplib listens with a backlog of 5: a burst of clients would overflow it.
  ::listen(svr_sock_, 1024);
  ::fcntl(svr_sock_, F_SETFL, ::fcntl(svr_sock_, F_GETFL) | O_NONBLOCK);  // accept_all() takes all that wait
  return bound;
}

ConnectionStats HttpFront::stats() const { return {open_.load(), refused_.load(), timed_out_.load()}; }

void HttpFront::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t k = ::write(wake_fd_, &one, sizeof one);
}

void HttpFront::stop() {
  stopping_ = true;
  wake();
}

void HttpFront::run() {
  for (int i = 0; i < limits_.workers; ++i) workers_.emplace_back([this] { work(); });
  const int lfd = svr_sock_;
  Clock::time_point accept_paused_until{};
  std::vector<pollfd> fds;
  while (!stopping_) {
    std::vector<std::unique_ptr<Conn>> back;
    {
      std::lock_guard lk(mu_);
      back.swap(done_);
    }
    for (auto& c : back) resume(std::move(c));

    const auto now = Clock::now();
    for (auto& c : waiting_) {
      if (!c || now < c->deadline) continue;
      if (c->lingering || c->idle || (c->buf.empty() && !c->head_checked)) {
        close_conn(*c);
      } else {
        ++timed_out_;
        refuse(*c, ApiError(408, "invalid_request_error", "the request did not arrive in time"));
        close_conn(*c);
      }
    }
    std::erase_if(waiting_, [](const auto& c) { return !c || c->fd < 0; });

    fds.assign({{lfd, static_cast<short>(now < accept_paused_until ? 0 : POLLIN), 0}, {wake_fd_, POLLIN, 0}});
    auto next = now + std::chrono::seconds(1);
    for (const auto& c : waiting_) {
      fds.push_back({c->fd, POLLIN, 0});
      next = std::min(next, c->deadline);
    }
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait_ms, 0, 1000))) < 0 && errno != EINTR)
      break;
    if (fds[1].revents & POLLIN) {
      uint64_t n;
      [[maybe_unused]] ssize_t k = ::read(wake_fd_, &n, sizeof n);
    }
    const size_t polled = fds.size() - 2;  // accept_all appends after these
    for (size_t i = 0; i < polled; ++i)
      if (fds[i + 2].revents) read_from(*waiting_[i]);
    if ((fds[0].revents & POLLIN) && !accept_all()) accept_paused_until = Clock::now() + std::chrono::milliseconds(100);
    // Connections handed to a worker left a null behind; closed ones fd -1.
    std::erase_if(waiting_, [](const auto& c) { return !c || c->fd < 0; });
  }

  ::close(svr_sock_.exchange(INVALID_SOCKET));
  std::deque<std::unique_ptr<Conn>> unstarted;
  {
    std::lock_guard lk(mu_);
    unstarted.swap(ready_);
    cv_.notify_all();
  }
  for (auto& t : workers_) t.join();  // each finishes the request it is serving
  workers_.clear();
  for (auto* list : {&waiting_, &done_})
    for (auto& c : *list)
      if (c) close_conn(*c);
  for (auto& c : unstarted) {
    buffered_ += c->buf.size();  // taken off when it was handed on
    close_conn(*c);
  }
  waiting_.clear();
  done_.clear();
}

bool HttpFront::accept_all() {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(svr_sock_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return errno != EMFILE && errno != ENFILE;  // out of descriptors: the caller pauses accepting
    }
    if (open_ >= limits_.max_connections + kHardExtra) {  // a flood: no answer at all
      ::close(fd);
      ++refused_;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->framer = RequestFramer(limits_.framing);
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
      c->port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      c->port = ntohs(a->sin6_port);
    }
    c->addr = text;
    c->deadline = Clock::now() + std::chrono::seconds(limits_.header_timeout_s);
    ++open_;
    const int from_client = ++per_client_[c->addr];
    if (open_ > limits_.max_connections || from_client > limits_.max_connections_per_client) {
      ++refused_;
      ApiError e(503, "server_error",
                 open_ > limits_.max_connections ? "server overloaded: too many open connections"
                                                 : "too many open connections from this address",
                 "", "too_many_connections");
      e.retry_after_s = 1;
      refuse(*c, e);
    }
    waiting_.push_back(std::move(c));
  }
}

void HttpFront::read_from(Conn& c) {
  char tmp[64 * 1024];
  for (int round = 0; round < 16 && c.fd >= 0; ++round) {
    const ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {  // the client closed (or reset): nothing to answer
      close_conn(c);
      return;
    }
    if (c.lingering) {
      c.drained += static_cast<size_t>(n);
      if (c.drained > kLingerBytes) close_conn(c);
      continue;
    }
    if (buffered_ + static_cast<size_t>(n) > limits_.max_buffered_bytes) {
      ApiError e(503, "server_error", "server overloaded: too many request bytes in flight", "", "overloaded");
      e.retry_after_s = 1;
      refuse(c, e);
      return;
    }
    if (c.idle) {  // the next request starts: it has the head timeout from now
      c.idle = false;
      c.deadline = Clock::now() + std::chrono::seconds(limits_.header_timeout_s);
    }
    c.buf.append(tmp, static_cast<size_t>(n));
    buffered_ += static_cast<size_t>(n);
    if (!advance(c)) return;  // handed to a worker: no longer ours to touch
    if (c.lingering) return;
  }
}

bool HttpFront::advance(Conn& c) {
  const RequestFramer::Status st = c.framer.advance(c.buf);
  if (st == RequestFramer::Status::Error) {
    refuse(c, ApiError(c.framer.error_status(), "invalid_request_error", c.framer.error()));
    return true;
  }
  if (c.framer.head_ready() && !c.head_checked) {
    c.head_checked = true;
    try {
      check_(c.framer.head());
    } catch (const ApiError& e) {
      refuse(c, e);
      return true;
    }
    c.deadline = Clock::now() + std::chrono::seconds(limits_.body_timeout_s);
    const RequestHead& h = c.framer.head();
    if (!h.chunked) c.buf.reserve(h.bytes + h.content_length);  // one allocation, not a doubling series
    if (st == RequestFramer::Status::NeedMore && c.framer.head().expect_continue) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!send_all(c.fd, kContinue.data(), kContinue.size(), 1000)) {
        close_conn(c);
        return true;
      }
    }
  }
  if (st != RequestFramer::Status::Complete) return true;

  // Hand the request on; bytes after it (pipelined requests) wait in buf.
  const size_t end = c.framer.request_bytes();
  buffered_ -= c.buf.size();
  if (end == c.buf.size()) {
    c.request = std::move(c.buf);
    c.buf.clear();
  } else {
    c.request = c.buf.substr(0, end);
    c.buf.erase(0, end);
  }
  // This layer answered any 100-continue; httplib must not send a second one.
  if (const auto [from, to] = c.framer.head().expect_line; to > from) c.request.erase(from, to - from);
  for (auto& w : waiting_) {
    if (w.get() != &c) continue;
    std::lock_guard lk(mu_);
    ready_.push_back(std::move(w));
    cv_.notify_one();
    break;
  }
  return false;
}

void HttpFront::refuse(Conn& c, const ApiError& e) {
  const std::string body = error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", e.status,
                                reason(e.status), body.size());
  if (e.retry_after_s > 0) out += fmt::format("Retry-After: {}\r\n", e.retry_after_s);
  out += "Connection: close\r\n\r\n" + body;
  if (on_error_) on_error_(e.status);
  buffered_ -= c.buf.size();
  c.buf = std::string();
  if (!send_all(c.fd, out.data(), out.size(), 1000)) {
    close_conn(c);
    return;
  }
  // Closing with unread input would reset the connection and could destroy
  // the answer before the client reads it: drain for a while first.
  ::shutdown(c.fd, SHUT_WR);
  c.lingering = true;
  c.deadline = Clock::now() + kLinger;
}

void HttpFront::close_conn(Conn& c) {
  if (c.fd < 0) return;
  ::close(c.fd);
  c.fd = -1;
  --open_;
  if (auto it = per_client_.find(c.addr); it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
  buffered_ -= c.buf.size();
  c.buf = std::string();
}

void HttpFront::resume(std::unique_ptr<Conn> c) {
  buffered_ += c->buf.size();  // pipelined bytes count again (close_conn takes them off)
  if (c->close_after || stopping_) {
    close_conn(*c);
    return;
  }
  c->framer = RequestFramer(limits_.framing);
  c->head_checked = false;
  c->idle = c->buf.empty();
  c->deadline = Clock::now() + std::chrono::seconds(c->idle ? limits_.keep_alive_timeout_s : limits_.header_timeout_s);
  waiting_.push_back(std::move(c));
  Conn& conn = *waiting_.back();
  if (!conn.buf.empty()) advance(conn);  // a pipelined request may already be complete
}

void HttpFront::work() {
  for (;;) {
    std::unique_ptr<Conn> c;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;
      c = std::move(ready_.front());
      ready_.pop_front();
    }
    serve(*c);
    {
      std::lock_guard lk(mu_);
      done_.push_back(std::move(c));
    }
    wake();
  }
}

void HttpFront::serve(Conn& c) {
  BufferStream strm(c.request, c.fd, c.addr, c.port, limits_.write_timeout_s);
  const bool last = stopping_ || ++c.served >= limits_.max_requests_per_connection;
  bool closed = false;
  const bool ok = process_request(strm, last, closed, nullptr);
  c.close_after = !ok || closed || last || strm.failed();
  c.request = std::string();
}

}  // namespace edgerag::server
