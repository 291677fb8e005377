#include "remote/http_client.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "format/json_file.h"

namespace edgerag::remote {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* curl = nullptr;
  std::string body;        // non-streamed body, or a non-2xx streamed one
  std::string line;        // the SSE line being received
  bool overflow = false;
  bool stopped = false;    // on_data asked to stop
  const std::function<bool(const std::string&)>* on_data = nullptr;
  const std::atomic<bool>* abort = nullptr;

  bool streaming() const {
    if (!on_data) return false;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
  }
  // Returns false to end the transfer.
  bool take(const char* p, size_t n) {
    if (!streaming()) {
      if (body.size() + n > kMaxBody) return overflow = true, false;
      body.append(p, n);
      return true;
    }
    for (size_t i = 0; i < n; ++i) {
      if (p[i] != '\n') {
        if (line.size() >= kMaxEventLine) return overflow = true, false;
        line += p[i];
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("data:", 0) == 0) {
        const size_t b = line.size() > 5 && line[5] == ' ' ? 6 : 5;
        if (!(*on_data)(line.substr(b))) return stopped = true, false;
      }
      line.clear();
    }
    return true;
  }
};

size_t on_write(char* p, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  return t->take(p, size * n) ? size * n : 0;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->abort && t->abort->load() ? 1 : 0;
}

HttpResult perform(const std::string& url, const std::string& body, const HttpOptions& opt, Transfer& t,
                   bool sse) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  HttpResult r;
  if (!curl) return r.error = "curl_easy_init failed", r;
  t.curl = curl.get();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, sse ? "Accept: text/event-stream" : "Accept: application/json");
  const std::string auth = "Authorization: Bearer " + opt.api_key;
  if (!opt.api_key.empty()) headers = curl_slist_append(headers, auth.c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> hold(headers, curl_slist_free_all);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (!body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, opt.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
  if (opt.read_timeout_s > 0) {  // below 1 byte/s for that long
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, opt.read_timeout_s);
  }
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  r.body = std::move(t.body);
  if (t.overflow) r.error = "the response is too large";
  else if (rc != CURLE_OK && !t.stopped) r.error = curl_easy_strerror(rc);
  return r;
}

}  // namespace

HttpResult http_json(const std::string& url, const std::string& body, const HttpOptions& opt) {
  Transfer t;
  return perform(url, body, opt, t, false);
}

HttpResult http_sse(const std::string& url, const std::string& body, const HttpOptions& opt,
                    const std::function<bool(const std::string&)>& on_data, const std::atomic<bool>* abort) {
  Transfer t;
  t.on_data = &on_data;
  t.abort = abort;
  return perform(url, body, opt, t, true);
}

nlohmann::json parse_response(std::string_view text) {
  // Embeddings of a large batch are the widest answers: a few million numbers.
  if (check_json_shape(text, {.depth = 64, .values = 1u << 23, .keys_per_object = 4096}) != JsonShapeExcess::kNone)
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, false);
}

std::string error_message(const std::string& body) {
  const auto j = parse_response(body);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return body.substr(0, 300);
}

}  // namespace edgerag::remote
