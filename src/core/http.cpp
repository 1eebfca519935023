#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include "core/errors.hpp"
#include "core/runtime.hpp"

namespace plane {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// State the curl callbacks write into during one transfer.
struct TransferState {
  HttpResponse* response;
  std::size_t max_bytes;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t nmemb, void* userp) {
  auto* state = static_cast<TransferState*>(userp);
  const size_t n = size * nmemb;
  if (state->response->body.size() + n > state->max_bytes) {
    state->too_large = true;
    return 0;  // aborts the transfer
  }
  state->response->body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t nmemb, void* userp) {
  auto* state = static_cast<TransferState*>(userp);
  const size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    state->response->headers.clear();  // a new status line (redirect, 100-continue): start over
    return n;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    state->response->headers.emplace_back(lower(trim(line.substr(0, colon))),
                                          trim(line.substr(colon + 1)));
  }
  return n;
}

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return std::nullopt;
}

CurlTransport::CurlTransport(std::function<bool()> cancelled) : cancelled_(std::move(cancelled)) {
  global_init_once();
  multi_ = curl_multi_init();
  easy_ = curl_easy_init();
  if (multi_ == nullptr || easy_ == nullptr) {
    if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
    if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
    throw PlaneError(ErrorKind::Internal, "could not initialise libcurl");
  }
}

CurlTransport::~CurlTransport() {
  curl_easy_cleanup(static_cast<CURL*>(easy_));
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

HttpResponse CurlTransport::perform(const HttpRequest& request) {
  auto* easy = static_cast<CURL*>(easy_);
  auto* multi = static_cast<CURLM*>(multi_);
  HttpResponse response;
  TransferState state{&response, request.max_response_bytes};

  curl_easy_reset(easy);
  SlistPtr headers;
  for (const auto& [name, value] : request.headers) {
    std::string line = name;
    line += ": ";
    line += value;
    curl_slist* head = curl_slist_append(headers.get(), line.c_str());
    if (head == nullptr) throw PlaneError(ErrorKind::Internal, "out of memory building headers");
    if (!headers) headers.reset(head);  // appending to a list returns the same head
    secure_wipe(line);                  // it may have carried the credential
  }
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, request.timeout_ms);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, request.connect_timeout_ms);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // never install SIGALRM handlers inside a backend
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // let curl negotiate gzip
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &state);
  if (request.method == "GET") {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }

  curl_multi_add_handle(multi, easy);
  // Detach the handle on every exit path, or the next perform() could not add it again.
  struct Detach {
    CURLM* m;
    CURL* e;
    ~Detach() { curl_multi_remove_handle(m, e); }
  } detach{multi, easy};

  int running = 1;
  while (running > 0) {
    if (cancelled_ && cancelled_()) throw PlaneError(ErrorKind::Cancelled, "request cancelled");
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) throw PlaneError(ErrorKind::Transport, curl_multi_strerror(mc));
    if (running > 0) {
      mc = curl_multi_poll(multi, nullptr, 0, 50, nullptr);
      if (mc != CURLM_OK) throw PlaneError(ErrorKind::Transport, curl_multi_strerror(mc));
    }
  }

  CURLcode result = CURLE_OK;
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) result = msg->data.result;
  }
  if (state.too_large) {
    throw PlaneError(ErrorKind::Parse, "response body exceeds " +
                                           std::to_string(request.max_response_bytes) + " bytes");
  }
  if (result == CURLE_OPERATION_TIMEDOUT) {
    throw PlaneError(ErrorKind::Timeout,
                     "request timed out after " + std::to_string(request.timeout_ms) + " ms");
  }
  if (result != CURLE_OK) throw PlaneError(ErrorKind::Transport, curl_easy_strerror(result));
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

std::string url_encode(std::string_view value) {
  // curl_easy_escape treats length 0 as "NUL-terminated": it would strlen() past an empty view.
  if (value.empty()) return std::string();
  // libcurl >= 7.82 ignores the handle argument of curl_easy_escape.
  std::unique_ptr<char, decltype(&curl_free)> escaped(
      curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size())), &curl_free);
  if (!escaped) throw PlaneError(ErrorKind::Internal, "out of memory escaping a URL component");
  return std::string(escaped.get());
}

}  // namespace plane
