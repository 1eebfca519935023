// Test doubles shared by the unit tests: a scripted HTTP
// transport, a virtual-clock Waiter, a counting CredentialSource, a fake Plane list server with
// Plane's real offset-cursor semantics and its refusals, fixed-offset
// calendar zones, and expect_error.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/mapping.hpp"
#include "core/runtime.hpp"
#include "core/timestamp.hpp"

namespace fakes {

// Virtual clock: wait_ms advances it by exactly the waited time; nothing sleeps.
class FakeWaiter : public plane::Waiter {
 public:
  std::int64_t now = 1'000'000;
  bool cancel = false;
  std::vector<std::int64_t> waits;
  // Optional: called before each wait (e.g. to request cancellation mid-wait).
  std::function<void(FakeWaiter&, std::int64_t)> on_wait;

  bool cancelled() override { return cancel; }
  void wait_ms(std::int64_t ms) override {
    waits.push_back(ms);
    if (on_wait) on_wait(*this, ms);
    if (cancel) throw plane::PlaneError(plane::ErrorKind::Cancelled, "cancelled while waiting");
    now += ms;
  }
  std::int64_t now_ms() override { return now; }

  std::int64_t total_waited() const {
    std::int64_t sum = 0;
    for (auto w : waits) sum += w;
    return sum;
  }
};

// Hands out "plane_api_secret<N>" with N counting calls: a new value per call shows that the
// credential is read at the moment of every request and never cached.
class FakeCredentials : public plane::CredentialSource {
 public:
  std::string header = "X-API-Key";
  std::string prefix = "plane_api_secret";
  int calls = 0;
  int refresh_calls = 0;
  bool refresh_result = false;
  bool missing = false;

  plane::Credential credential() override {
    if (missing) throw plane::PlaneError(plane::ErrorKind::Config, "no API key in the vault");
    ++calls;
    return plane::Credential(header, prefix + std::to_string(calls));
  }
  bool refresh_after_rejection() override {
    ++refresh_calls;
    return refresh_result;
  }
};

inline plane::HttpResponse response(long status, std::string body,
                                    plane::HeaderList headers = {}) {
  plane::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// A transport that records every request (with the virtual time it was sent) and answers from a
// script, or from a handler once the script is exhausted.
class FakeTransport : public plane::HttpTransport {
 public:
  struct Step {
    std::optional<plane::HttpResponse> reply;
    std::optional<plane::PlaneError> error;
  };
  struct Sent {
    plane::HttpRequest request;
    std::int64_t at_ms;
  };

  explicit FakeTransport(FakeWaiter* clock = nullptr) : clock_(clock) {}

  void then_reply(long status, std::string body, plane::HeaderList headers = {}) {
    script.push_back(Step{response(status, std::move(body), std::move(headers)), std::nullopt});
  }
  void then_throw(plane::ErrorKind kind, const std::string& message) {
    script.push_back(Step{std::nullopt, plane::PlaneError(kind, message)});
  }

  plane::HttpResponse perform(const plane::HttpRequest& request) override {
    sent.push_back(Sent{request, clock_ != nullptr ? clock_->now : 0});
    if (!script.empty()) {
      Step step = std::move(script.front());
      script.pop_front();
      if (step.error) throw *step.error;
      return *step.reply;
    }
    if (handler) return handler(request);
    throw plane::PlaneError(plane::ErrorKind::Internal, "FakeTransport: unscripted request");
  }

  // The header value sent with request i, or nullopt.
  std::optional<std::string> header_of(size_t i, const std::string& name) const {
    for (const auto& [k, v] : sent.at(i).request.headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }

  std::deque<Step> script;
  std::function<plane::HttpResponse(const plane::HttpRequest&)> handler;
  std::vector<Sent> sent;

 private:
  FakeWaiter* clock_;
};

inline std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits "https://host/api/v1/workspaces/slug/path/?a=1&b=2" into path-after-slug and params.
struct ParsedUrl {
  std::string path;  // e.g. "projects/" or "projects/p1/work-items/"
  std::map<std::string, std::string> query;
};

inline ParsedUrl parse_url(const std::string& url, const std::string& workspace_prefix) {
  ParsedUrl out;
  std::string rest = url.rfind(workspace_prefix, 0) == 0 ? url.substr(workspace_prefix.size()) : url;
  const auto q = rest.find('?');
  out.path = rest.substr(0, q);
  if (q != std::string::npos) {
    std::string qs = rest.substr(q + 1);
    size_t pos = 0;
    while (pos <= qs.size()) {
      size_t amp = qs.find('&', pos);
      if (amp == std::string::npos) amp = qs.size();
      const std::string kv = qs.substr(pos, amp - pos);
      const auto eq = kv.find('=');
      if (!kv.empty()) {
        out.query[percent_decode(kv.substr(0, eq))] =
            eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1));
      }
      pos = amp + 1;
    }
  }
  return out;
}

// Serves lists the way Plane's BasePaginator does: cursor "per_page:page:is_prev", offset =
// page * request per_page (not the cursor's), next_cursor always a string, envelope keys in
// Plane's order. Like Plane it honours order_by ("field" or "-field", stable; timestamps compare
// as instants whatever their offset) and fields (a comma-separated projection), and answers a
// detail GET "<list path><id>/" with the listed object. Unknown paths get a 404 like Plane's.
class FakePlane {
 public:
  explicit FakePlane(std::string workspace_prefix) : prefix_(std::move(workspace_prefix)) {}

  std::map<std::string, nlohmann::json> lists;  // path -> array of objects
  std::vector<ParsedUrl> requests;
  // Runs before each request is served: may change `lists` (a concurrent edit in Plane) or
  // answer instead (a fault).
  std::function<std::optional<plane::HttpResponse>(const ParsedUrl&)> before;

  // Plane's refusals: every request whose path starts with one of these
  // prefixes gets its answer, e.g. 403 on each list of a project the key's user is not a member of.
  std::vector<std::pair<std::string, plane::HttpResponse>> refusals;
  void refuse(const std::string& path_prefix, long status, std::string body) {
    refusals.emplace_back(path_prefix, response(status, std::move(body)));
  }
  // Work items are listed (and detailed) under "work-items/" and its alias "issues/" (same view);
  // false: a Community Edition before v1.1.0, where work-items/ is a route that does not exist.
  bool work_items_route = true;
  // The largest page the server serves (0: no limit). A larger per_page is refused with 400 like
  // Plane's paginator, or, with refuse_page_size false, silently served at the limit (its offsets
  // and cursors then use the limit too).
  long max_per_page = 0;
  bool refuse_page_size = true;

  plane::HttpResponse operator()(const plane::HttpRequest& request) {
    ParsedUrl url = parse_url(request.url, prefix_);
    requests.push_back(url);
    if (before) {
      if (auto answer = before(url)) return *answer;
    }
    for (const auto& [path_prefix, answer] : refusals) {
      if (url.path.rfind(path_prefix, 0) == 0) return answer;
    }
    std::string path = url.path;
    if (const auto at = path.find("/work-items/"); at != std::string::npos && !work_items_route) {
      return response(404, R"({"error": "Page not found."})");
    }
    if (const auto at = path.find("/issues/"); at != std::string::npos) {
      path.replace(at, 8, "/work-items/");  // the legacy alias serves the same lists
    }
    auto it = lists.find(path);
    if (it == lists.end()) return detail(path);
    long per_page = url.query.count("per_page") ? std::stol(url.query["per_page"]) : 1000;
    if (max_per_page > 0 && per_page > max_per_page) {
      if (refuse_page_size) {
        return response(400, "{\"detail\": \"Invalid per_page value. Cannot exceed " +
                                 std::to_string(max_per_page) + ".\"}");
      }
      per_page = max_per_page;
    }
    long page = 0;
    if (url.query.count("cursor")) {
      long cpp = 0, prev = 0;
      if (std::sscanf(url.query["cursor"].c_str(), "%ld:%ld:%ld", &cpp, &page, &prev) != 3 ||
          page < 0) {
        return response(400, R"({"detail": "Invalid cursor parameter."})");
      }
    }
    const nlohmann::json all = ordered(it->second, url.query.count("order_by") ? url.query["order_by"] : "");
    const long total = static_cast<long>(all.size());
    const long offset = page * per_page;
    nlohmann::json results = nlohmann::json::array();
    for (long i = offset; i < std::min(total, offset + per_page); ++i) {
      results.push_back(url.query.count("fields") ? project(all[i], url.query["fields"]) : all[i]);
    }
    nlohmann::json doc = nlohmann::json::object();
    doc["grouped_by"] = nullptr;
    doc["sub_grouped_by"] = nullptr;
    doc["total_count"] = total;
    doc["next_cursor"] = std::to_string(per_page) + ":" + std::to_string(page + 1) + ":0";
    doc["prev_cursor"] = std::to_string(per_page) + ":" + std::to_string(page - 1) + ":1";
    doc["next_page_results"] = offset + per_page < total;
    doc["prev_page_results"] = page > 0;
    doc["count"] = results.size();
    doc["total_pages"] = (total + per_page - 1) / per_page;
    doc["total_results"] = total;
    doc["extra_stats"] = nullptr;
    doc["results"] = std::move(results);
    return response(200, doc.dump(), {{"x-ratelimit-remaining", "59"}});
  }

 private:
  static plane::HttpResponse not_found() { return response(404, R"({"detail": "Not found."})"); }

  plane::HttpResponse detail(const std::string& path) const {
    if (path.size() < 2 || path.back() != '/') return not_found();
    const auto slash = path.rfind('/', path.size() - 2);
    if (slash == std::string::npos) return not_found();
    auto list = lists.find(path.substr(0, slash + 1));
    if (list == lists.end()) return not_found();
    const std::string id = path.substr(slash + 1, path.size() - slash - 2);
    for (const auto& obj : list->second) {
      if (obj.is_object() && obj.value("id", "") == id) return response(200, obj.dump());
    }
    return not_found();
  }

  static nlohmann::json ordered(const nlohmann::json& all, const std::string& order_by) {
    nlohmann::json out = all;
    if (order_by.empty() || !out.is_array()) return out;
    const bool desc = order_by[0] == '-';
    const std::string key = desc ? order_by.substr(1) : order_by;
    auto sort_key = [&](const nlohmann::json& obj) -> std::optional<std::int64_t> {
      if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return std::nullopt;
      return plane::parse_timestamp_micros(obj[key].get<std::string>());
    };
    std::vector<nlohmann::json> rows(out.begin(), out.end());
    std::stable_sort(rows.begin(), rows.end(), [&](const nlohmann::json& a, const nlohmann::json& b) {
      const auto ka = sort_key(a), kb = sort_key(b);
      if (ka && kb) return desc ? *ka > *kb : *ka < *kb;
      if (ka || kb) return kb.has_value();  // no value first, like Postgres NULLS FIRST ascending
      return desc ? a.value(key, nlohmann::json()) > b.value(key, nlohmann::json())
                  : a.value(key, nlohmann::json()) < b.value(key, nlohmann::json());
    });
    return nlohmann::json(rows);
  }

  static nlohmann::json project(const nlohmann::json& obj, const std::string& fields) {
    nlohmann::json out = nlohmann::json::object();
    size_t pos = 0;
    while (pos <= fields.size()) {
      size_t comma = fields.find(',', pos);
      if (comma == std::string::npos) comma = fields.size();
      const std::string key = fields.substr(pos, comma - pos);
      if (!key.empty() && obj.is_object() && obj.contains(key)) out[key] = obj[key];
      pos = comma + 1;
    }
    return out;
  }

  std::string prefix_;
};

// Named time zones as fixed UTC offsets in minutes (the Postgres layer asks Postgres's zone data);
// an unknown zone has no answer. Records every zone asked for.
class FakeZones : public plane::CalendarZones {
 public:
  std::map<std::string, int> offsets_min = {{"UTC", 0}, {"Asia/Kolkata", 330}, {"America/Los_Angeles", -480}};
  std::vector<std::string> asked;

  std::optional<std::string> local_date(std::int64_t utc_us, const std::string& zone) override {
    asked.push_back(zone);
    auto it = offsets_min.find(zone);
    if (it == offsets_min.end()) return std::nullopt;
    return plane::format_timestamp_utc(utc_us + std::int64_t{it->second} * 60'000'000).substr(0, 10);
  }
};

// Runs `fn`, expects a PlaneError of `kind`, and returns it (for checks on its message).
template <typename Fn>
plane::PlaneError expect_error(Fn fn, plane::ErrorKind kind) {
  try {
    fn();
  } catch (const plane::PlaneError& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e;
  }
  ADD_FAILURE() << "no PlaneError thrown";
  return plane::PlaneError(plane::ErrorKind::Internal, "none");
}

}  // namespace fakes
