#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/http.hpp"
#include "core/pagination.hpp"
#include "core/runtime.hpp"

namespace plane {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct PlaneClientConfig {
  std::string api_url = "https://api.plane.so";  // without /api/v1
  std::string workspace_slug;
  // The largest page asked for. Community Edition serves up to 1,000 rows a page; Plane Cloud
  // documents 100. A server that refuses the size (400) or serves fewer rows than asked on a page
  // that is not its last is followed: see list_page.
  int per_page = 1000;
  // Work items live under "work-items/" since Community Edition v1.1.0 and on Cloud; older servers
  // have only the "issues/" alias (same view).
  std::string work_items_segment = "work-items";
  // Hosts that may receive the credential (hosts.hpp); nullopt: not checked (unit tests only).
  std::optional<std::vector<std::string>> credential_hosts;
  long timeout_ms = 30000;
  int max_attempts = 5;         // for 5xx, timeouts, transport errors and malformed bodies
  std::int64_t backoff_base_ms = 500;
  std::int64_t backoff_max_ms = 30000;
  int max_throttle_waits = 50;  // 429s tolerated for one request before giving up
};

struct ClientStats {
  long requests = 0;   // sent, including retries
  long retries = 0;
  long throttled = 0;  // 429s received
};

// Plane's REST API v1 as it really behaves: X-API-Key or Bearer, offset cursors, 429 with
// Retry-After, 5xx and malformed bodies retried with exponential backoff and full jitter.
class PlaneClient {
 public:
  PlaneClient(PlaneClientConfig config, HttpTransport& transport, RequestBudget& budget,
              CredentialSource& credentials, Waiter& waiter);

  // GET a list page of workspaces/{slug}/{path}. `cursor` empty means the first page. The page size
  // follows the server: a 400 refusing per_page lowers it to the limit the server names (else 100)
  // and asks again; a first page with fewer rows than asked that is not the last shows a server
  // that caps silently, and its row count becomes the page size. per_page() tells the size in use.
  ListPage list_page(const std::string& path, const QueryParams& query, const std::string& cursor,
                     ListForm form = ListForm::Json);

  int per_page() const { return per_page_; }
  const std::string& work_items_segment() const { return config_.work_items_segment; }
  void use_work_items_segment(const std::string& segment) { config_.work_items_segment = segment; }
  // "projects/{project_id}/work-items/" (or ".../issues/" on older servers).
  std::string work_items_path(const std::string& project_id) const;

  // GET/PATCH/POST one object of workspaces/{slug}/{path}; returns the parsed JSON body.
  nlohmann::json get_object(const std::string& path, const QueryParams& query = {});
  nlohmann::json send_object(const std::string& method, const std::string& path,
                             const nlohmann::json& body);

  // Full URL of workspaces/{slug}/{path} plus a query string (values percent-encoded).
  std::string workspace_url(const std::string& path, const QueryParams& query) const;

  const ClientStats& stats() const { return stats_; }
  const PlaneClientConfig& config() const { return config_; }

 private:
  // Sends with budget, retries and backoff; `parse` turns a 2xx body into a result or throws
  // PlaneError(Parse), which is retried like a 5xx (a truncated or garbled page).
  template <typename Parse>
  auto execute(HttpRequest request, Parse parse) -> decltype(parse(std::string_view{}));

  void backoff(int attempt);

  PlaneClientConfig config_;
  HttpTransport& transport_;
  RequestBudget& budget_;
  CredentialSource& credentials_;
  Waiter& waiter_;
  ClientStats stats_;
  int per_page_;
  std::mt19937_64 rng_;
};

// Plane's error bodies carry {"detail": ...} or {"error_message": ...}; returns a short,
// credential-free description for messages.
std::string describe_error_body(std::string_view body);

}  // namespace plane
