// The connection layer in front of cpp-httplib's router. httplib gives each
// connection a thread from accept to close, so 64 slow or idle clients would
// hold all 64 threads. Here one poll() thread owns every connection while its
// request arrives: it accepts (refusing with 503 beyond the total and
// per-client caps), reads the head and the whole body under deadlines, checks
// framing strictly (server/http_framing) and asks `HeadCheck` (authentication)
// before any body byte is read. Only complete requests reach the worker
// threads, which run httplib's request processing on the buffered bytes and
// write the response; a kept-alive connection then goes back to the poller,
// so pipelined requests are answered in order.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <httplib.h>

#include "server/http_framing.h"

namespace edgerag::server {

class ApiError;

struct ConnectionLimits {
  int max_connections = 512;            // open connections in total (503 beyond)
  int max_connections_per_client = 128; // per client IP address (503 beyond)
  int header_timeout_s = 10;            // from the first byte of a request to the end of its head (408)
  int body_timeout_s = 60;              // from the end of the head to the end of the body (408)
  int keep_alive_timeout_s = 5;         // idle between requests, then closed
  int max_requests_per_connection = 100;
  int write_timeout_s = 30;             // a response write that makes no progress this long ends the connection
  int workers = 64;                     // requests processed at once
  size_t max_buffered_bytes = 256u << 20;  // request bytes held by arriving requests, all together (503 beyond)
  FramingLimits framing{};
};

struct ConnectionStats {
  int open = 0;           // connections, arriving or being served
  uint64_t refused = 0;   // connections refused at accept (caps)
  uint64_t timed_out = 0; // requests that did not arrive in time
};

class HttpFront : public httplib::Server {
 public:
  // Called once a request head has arrived, before its body is read; throws
  // ApiError to answer with that error instead (the connection is closed).
  using HeadCheck = std::function<void(const RequestHead&)>;
  // Called for every error this layer answers itself (metrics).
  using OnError = std::function<void(int status)>;

  HttpFront(ConnectionLimits limits, HeadCheck check, OnError on_error);
  ~HttpFront() override;

  int bind(const std::string& host, int port);  // returns the port; -1 when it cannot listen
  void run();                                   // until stop()
  void stop();
  ConnectionStats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Conn;
  bool accept_all();  // false: out of file descriptors
  void read_from(Conn& c);
  bool advance(Conn& c);  // framing, head check, dispatch; false once handed to a worker
  void refuse(Conn& c, const ApiError& e);  // answers, then drains the input until the close
  void close_conn(Conn& c);
  void resume(std::unique_ptr<Conn> c);  // back from a worker
  void work();
  void serve(Conn& c);
  void wake();

  ConnectionLimits limits_;
  HeadCheck check_;
  OnError on_error_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  // Poller-thread state.
  std::vector<std::unique_ptr<Conn>> waiting_;           // arriving requests and idle keep-alive connections
  std::unordered_map<std::string, int> per_client_;      // open connections per address
  size_t buffered_ = 0;
  // Shared with the workers.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Conn>> ready_;     // complete requests for the workers
  std::vector<std::unique_ptr<Conn>> done_;     // served, back to the poller
  std::vector<std::thread> workers_;
  std::atomic<int> open_{0};
  std::atomic<uint64_t> refused_{0}, timed_out_{0};
};

}  // namespace edgerag::server
