#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/plane_client.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "core/errors.hpp"
#include "core/hosts.hpp"
#include "core/json_parse.hpp"
#include "core/text.hpp"

namespace plane {

using nlohmann::json;

namespace {

std::optional<long> header_long(const HttpResponse& r, std::string_view name) {
  auto v = r.header(name);
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  const long n = std::strtol(v->c_str(), &end, 10);
  if (end == v->c_str()) return std::nullopt;
  return n;
}

std::string strip_trailing_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

std::string describe_error_body(std::string_view body) {
  // A deeply nested body is quoted raw: dump() recurses, and a few hundred kilobytes of '[' would
  // overflow the stack.
  json doc;
  if (json_nesting_depth(body, kMaxJsonDepth) <= kMaxJsonDepth) {
    doc = json::parse(body.begin(), body.end(), nullptr, false);
  }
  std::string text;
  if (doc.is_object()) {
    for (const char* key : {"detail", "error_message", "error", "message"}) {
      if (auto it = doc.find(key); it != doc.end()) {
        text = it->is_string() ? it->get<std::string>() : it->dump();
        break;
      }
    }
  }
  if (text.empty()) return truncate_utf8(body, 200, "");
  return truncate_utf8(text, 203);  // 200 bytes and "..."
}

PlaneClient::PlaneClient(PlaneClientConfig config, HttpTransport& transport,
                         RequestBudget& budget, CredentialSource& credentials, Waiter& waiter)
    : config_(std::move(config)),
      transport_(transport),
      budget_(budget),
      credentials_(credentials),
      waiter_(waiter),
      per_page_(config_.per_page),
      rng_(std::random_device{}()) {
  config_.api_url = strip_trailing_slash(config_.api_url);
  if (config_.api_url.rfind("http://", 0) != 0 && config_.api_url.rfind("https://", 0) != 0) {
    throw PlaneError(ErrorKind::Config, "Plane API URL must start with http:// or https://");
  }
  if (config_.per_page < 1 || config_.per_page > 1000) {
    throw PlaneError(ErrorKind::Config, "per_page must be between 1 and 1000");
  }
  if (config_.credential_hosts) {
    const std::string problem =
        credential_url_problem(config_.api_url, *config_.credential_hosts, "plane.allowed_hosts");
    if (!problem.empty()) throw PlaneError(ErrorKind::Config, "Plane API URL refused: " + problem);
  }
}

std::string PlaneClient::work_items_path(const std::string& project_id) const {
  return "projects/" + project_id + "/" + config_.work_items_segment + "/";
}

std::string PlaneClient::workspace_url(const std::string& path, const QueryParams& query) const {
  std::string url = config_.api_url + "/api/v1/workspaces/" + url_encode(config_.workspace_slug) +
                    "/" + path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    url += sep;
    url += url_encode(k);
    url += '=';
    url += url_encode(v);
    sep = '&';
  }
  return url;
}

void PlaneClient::backoff(int attempt) {
  // Jittered exponential backoff: uniform in [cap/4, cap] with cap = min(max, base * 2^attempt).
  // The floor keeps a retry from coming back at once; the spread keeps workers sharing a key apart.
  const int shift = std::min(attempt, 16);
  const std::int64_t cap =
      std::min(config_.backoff_max_ms, config_.backoff_base_ms * (std::int64_t{1} << shift));
  std::uniform_int_distribution<std::int64_t> dist(cap / 4, std::max<std::int64_t>(cap, 1));
  waiter_.wait_ms(dist(rng_));
}

template <typename Parse>
auto PlaneClient::execute(HttpRequest request, Parse parse) -> decltype(parse(std::string_view{})) {
  request.timeout_ms = config_.timeout_ms;
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "plane_connector/0.1");
  if (!request.body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  const size_t fixed_headers = request.headers.size();

  int attempt = 0;
  int throttle_waits = 0;
  bool refreshed = false;
  for (;;) {
    for (;;) {  // pace: never send past the key's budget
      if (waiter_.cancelled()) throw PlaneError(ErrorKind::Cancelled, "sync cancelled");
      const std::int64_t wait = budget_.reserve(waiter_.now_ms());
      if (wait <= 0) break;
      waiter_.wait_ms(wait);
    }
    request.headers.resize(fixed_headers);
    {
      Credential cred = credentials_.credential();  // read at the moment of use, wiped after
      request.headers.emplace_back(cred.header, cred.value);
    }
    ++stats_.requests;
    ++attempt;
    HttpResponse response;
    try {
      response = transport_.perform(request);
    } catch (const PlaneError& e) {
      secure_wipe(request.headers.back().second);
      if (!e.retryable() || attempt >= config_.max_attempts) throw;
      ++stats_.retries;
      backoff(attempt);
      continue;
    }
    secure_wipe(request.headers.back().second);
    budget_.observe(waiter_.now_ms(), response.status, header_long(response, "X-RateLimit-Remaining"),
                    header_long(response, "Retry-After"));

    const long status = response.status;
    if (status == 429) {
      ++stats_.throttled;
      if (++throttle_waits > config_.max_throttle_waits) {
        throw PlaneError(ErrorKind::RateLimited,
                         "Plane kept answering 429 (rate limited) after " +
                             std::to_string(throttle_waits) + " waits",
                         status);
      }
      --attempt;  // a 429 is pacing, not a failure: the budget already holds us back
      continue;
    }
    if (status == 401) {
      // Only a 401 says the credential itself was refused: an OAuth token is renewed then, once.
      if (!refreshed && credentials_.refresh_after_rejection()) {
        refreshed = true;
        --attempt;
        continue;
      }
      throw PlaneError(ErrorKind::Auth,
                       "Plane refused the credential (HTTP 401): " + describe_error_body(response.body),
                       status);
    }
    if (status == 403) {
      // A 403 may refuse the credential (a wrong or expired API key is 403 on every endpoint) or
      // just this resource (a project the key's user is not a member of, a missing scope or plan):
      // the caller knows which. Never a reason to renew a token.
      throw PlaneError(ErrorKind::Forbidden,
                       "Plane refused access (HTTP 403): " + describe_error_body(response.body), status);
    }
    if (status >= 500 || status == 0) {
      if (attempt >= config_.max_attempts) {
        throw PlaneError(ErrorKind::ServerError,
                         "Plane answered HTTP " + std::to_string(status) + " after " +
                             std::to_string(attempt) + " attempts: " +
                             describe_error_body(response.body),
                         status);
      }
      ++stats_.retries;
      backoff(attempt);
      continue;
    }
    if (status < 200 || status >= 300) {
      throw PlaneError(ErrorKind::Http,
                       "Plane answered HTTP " + std::to_string(status) + ": " +
                           describe_error_body(response.body),
                       status);
    }
    try {
      return parse(std::string_view(response.body));
    } catch (const PlaneError& e) {
      if (e.kind() != ErrorKind::Parse || attempt >= config_.max_attempts) throw;
      ++stats_.retries;
      backoff(attempt);
    }
  }
}

namespace {

// "Invalid per_page value. Cannot exceed 1000." → 1000; 0 when the message names no limit.
int refused_page_size_limit(const PlaneError& e) {
  if (e.kind() != ErrorKind::Http || e.http_status() != 400) return -1;
  const std::string message = e.what();
  if (message.find("per_page") == std::string::npos) return -1;
  const auto at = message.find("exceed ");
  return at == std::string::npos ? 0 : std::atoi(message.c_str() + at + 7);
}

}  // namespace

ListPage PlaneClient::list_page(const std::string& path, const QueryParams& query,
                                const std::string& cursor_in, ListForm form) {
  std::string cursor = cursor_in;
  for (;;) {
    QueryParams q = query;
    // Plane's offset uses the request's per_page, not the cursor's: send the same one every page.
    q.emplace_back("per_page", std::to_string(per_page_));
    if (!cursor.empty()) q.emplace_back("cursor", cursor);
    HttpRequest request;
    request.url = workspace_url(path, q);
    ListPage page;
    try {
      page = execute(std::move(request), [form](std::string_view body) { return parse_list_page(body, form); });
    } catch (const PlaneError& e) {
      const int limit = refused_page_size_limit(e);
      if (limit < 0 || (limit > 0 && limit >= per_page_)) throw;  // not a size we can lower
      // The limit the server names, else Plane Cloud's documented 100, once.
      const int smaller = limit > 0 ? limit : (per_page_ > 100 ? 100 : 0);
      if (smaller < 1) throw;
      per_page_ = smaller;
      if (!cursor.empty()) cursor = rebase_cursor(cursor, per_page_);
      continue;
    }
    const long served = static_cast<long>(page.size());
    if (cursor.empty() && page.has_next && !page.bare_array && served > 0 && served < per_page_) {
      // A server that caps the page size silently: its first page holds the first `served` rows;
      // continue with that size, or the next offsets would skip rows.
      per_page_ = static_cast<int>(served);
      page.next_cursor = make_cursor(per_page_, 1);
    }
    return page;
  }
}

json PlaneClient::get_object(const std::string& path, const QueryParams& query) {
  HttpRequest request;
  request.url = workspace_url(path, query);
  return execute(std::move(request),
                 [](std::string_view body) { return parse_json_checked(body, "response"); });
}

json PlaneClient::send_object(const std::string& method, const std::string& path,
                              const json& body) {
  HttpRequest request;
  request.method = method;
  request.url = workspace_url(path, {});
  request.body = body.dump();
  return execute(std::move(request),
                 [](std::string_view text) { return parse_json_checked(text, "response"); });
}

}  // namespace plane
