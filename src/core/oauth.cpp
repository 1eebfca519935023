#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/oauth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "core/digest.hpp"
#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/runtime.hpp"

namespace plane {

using nlohmann::json;

OAuthTokens::~OAuthTokens() {
  secure_wipe(access_token);
  secure_wipe(refresh_token);
}

namespace {

constexpr long kOAuthTimeoutMs = 30000;

// Deeper answers are refused unparsed: wipe_json_strings and nlohmann's copies recurse, so a body of
// a few hundred kilobytes of '[' would overflow the stack of the backend (webhooks use the same
// limit, kMaxJsonDepth).
constexpr int kMaxAnswerDepth = 256;

bool too_deep(std::string_view body) {
  return json_nesting_depth(body, kMaxAnswerDepth) > kMaxAnswerDepth;
}

// Removes the trailing slashes; refuses anything but http(s).
std::string normalise_base(const std::string& base_url) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    throw PlaneError(ErrorKind::Config, "Plane OAuth base URL must start with http:// or https://");
  }
  return url;
}

// Wipes the strings it watches when the scope ends, on every exit path.
class WipeOnExit {
 public:
  WipeOnExit() = default;
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() {
    for (std::string* s : watched_) secure_wipe(*s);
  }
  void watch(std::string& s) { watched_.push_back(&s); }

 private:
  std::vector<std::string*> watched_;
};

// The values that must never reach a message. Text from Plane that contains one is dropped whole.
class Secrets {
 public:
  explicit Secrets(std::vector<std::string_view> values) : values_(std::move(values)) {}
  bool leaks(std::string_view text) const {
    for (std::string_view v : values_) {
      if (v.size() >= 4 && text.find(v) != std::string_view::npos) return true;
    }
    return false;
  }

 private:
  std::vector<std::string_view> values_;
};

bool is_error_code(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// "invalid_grant" or "invalid_grant: <description>" from an OAuth error body
// ({"error", "error_description"}) or a DRF one ({"detail"}); empty when there is nothing safe to say.
// A code or description that contains any of the secrets is left out entirely.
struct ErrorInfo {
  std::string code;
  std::string text;
};

ErrorInfo describe_oauth_error(const std::string& body, const Secrets& secrets) {
  ErrorInfo info;
  if (too_deep(body)) return info;
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (!doc.is_object()) return info;
  if (auto it = doc.find("error"); it != doc.end() && it->is_string()) {
    const auto& code = it->get_ref<const std::string&>();
    // The code is quoted as well, so it gets the same secret check as the description.
    if (is_error_code(code) && !secrets.leaks(code)) info.code = code;
  }
  std::string description;
  for (const char* key : {"error_description", "detail", "error_message", "message"}) {
    if (auto it = doc.find(key); it != doc.end() && it->is_string()) {
      description = it->get<std::string>();
      break;
    }
  }
  std::string clean;
  for (unsigned char c : description) clean += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  if (clean.size() > 160) clean = clean.substr(0, 160) + "...";
  if (secrets.leaks(description) || secrets.leaks(clean)) clean.clear();
  info.text = info.code;
  if (!clean.empty()) info.text += (info.text.empty() ? "" : ": ") + clean;
  return info;
}

[[noreturn]] void throw_http_error(const HttpResponse& response, const std::string& what,
                                   const Secrets& secrets, bool token_endpoint) {
  const long status = response.status;
  const ErrorInfo info = describe_oauth_error(response.body, secrets);
  const std::string suffix = info.text.empty() ? std::string() : ": " + info.text;
  const std::string http = "HTTP " + std::to_string(status);
  if (token_endpoint && (status == 400 || status == 401) && info.code == "invalid_grant") {
    throw PlaneError(ErrorKind::Auth,
                     "Plane refused the OAuth " + what + " grant (" + http + ", invalid_grant" +
                         "): it is invalid, expired, revoked or already used",
                     status);
  }
  if (status == 401 || status == 403 || (token_endpoint && info.code == "invalid_client")) {
    throw PlaneError(ErrorKind::Auth,
                     "Plane refused the OAuth " + what + " request (" + http + ")" + suffix,
                     status);
  }
  if (status == 429) {
    throw PlaneError(ErrorKind::RateLimited,
                     "Plane rate-limited the OAuth " + what + " request (" + http + ")", status);
  }
  if (status >= 500 || status == 0) {
    throw PlaneError(ErrorKind::ServerError,
                     "Plane's OAuth endpoint answered " + http + " to the " + what + " request" +
                         suffix,
                     status);
  }
  throw PlaneError(ErrorKind::Http,
                   "Plane's OAuth endpoint answered " + http + " to the " + what + " request" +
                       suffix,
                   status);
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) throw PlaneError(ErrorKind::Internal, "base64 encoding failed");
  out.resize(static_cast<size_t>(n));
  return out;
}

using FormFields = std::vector<std::pair<const char*, std::string_view>>;

// application/x-www-form-urlencoded; empty values are left out.
std::string form_body(const FormFields& fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (value.empty()) continue;
    if (!body.empty()) body += '&';
    body += name;
    body += '=';
    body += url_encode(value);
  }
  return body;
}

long to_seconds(const json& v) {
  double d = 0;
  if (v.is_number()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    d = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0') {
      throw PlaneError(ErrorKind::Parse, "OAuth token response has a non-numeric expires_in");
    }
  } else if (v.is_null()) {
    return 0;
  } else {
    throw PlaneError(ErrorKind::Parse, "OAuth token response has a non-numeric expires_in");
  }
  if (!std::isfinite(d) || d < 0) {
    throw PlaneError(ErrorKind::Parse, "OAuth token response has an invalid expires_in");
  }
  constexpr long kCentury = 100L * 365 * 24 * 3600;  // anything longer is "does not expire"
  if (d > static_cast<double>(kCentury)) return kCentury;
  return static_cast<long>(d);
}

// Moves a string member out of the parsed document and wipes the document's copy.
std::string take_string(json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    throw PlaneError(ErrorKind::Parse,
                     std::string("OAuth token response has a non-string ") + key);
  }
  std::string& ref = it->get_ref<std::string&>();
  std::string out = ref;
  secure_wipe(ref);
  return out;
}

void wipe_json_strings(json& doc) {
  if (doc.is_string()) {
    secure_wipe(doc.get_ref<std::string&>());
  } else if (doc.is_structured()) {
    for (auto& v : doc) wipe_json_strings(v);
  }
}

OAuthTokens parse_tokens(const std::string& body) {
  if (too_deep(body)) {
    throw PlaneError(ErrorKind::Parse, "OAuth token response nests deeper than " +
                                           std::to_string(kMaxAnswerDepth) + " levels");
  }
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) throw PlaneError(ErrorKind::Parse, "OAuth token response is not JSON");
  struct WipeDoc {
    json& d;
    ~WipeDoc() {
      try {
        wipe_json_strings(d);
      } catch (...) {  // cannot happen (types are checked); a destructor must not throw
      }
    }
  } wipe_doc{doc};
  if (!doc.is_object()) {
    throw PlaneError(ErrorKind::Parse, "OAuth token response is not a JSON object");
  }
  OAuthTokens tokens;
  tokens.access_token = take_string(doc, "access_token");
  if (tokens.access_token.empty()) {
    throw PlaneError(ErrorKind::Parse, "OAuth token response has no access_token");
  }
  tokens.refresh_token = take_string(doc, "refresh_token");
  tokens.token_type = take_string(doc, "token_type");
  if (tokens.token_type.empty()) tokens.token_type = "Bearer";
  if (auto it = doc.find("scope"); it != doc.end()) {
    if (it->is_string()) {
      tokens.scope = it->get<std::string>();
    } else if (it->is_array()) {
      for (const auto& s : *it) {
        if (!s.is_string()) throw PlaneError(ErrorKind::Parse, "OAuth token scope is not text");
        if (!tokens.scope.empty()) tokens.scope += ' ';
        tokens.scope += s.get<std::string>();
      }
    } else if (!it->is_null()) {
      throw PlaneError(ErrorKind::Parse, "OAuth token scope is not text");
    }
  }
  if (auto it = doc.find("expires_in"); it != doc.end()) tokens.expires_in = to_seconds(*it);
  return tokens;
}

// POSTs one grant to the token endpoint; wipes the request (which carries the secret, code or
// refresh token) and the response (which carries the tokens) whatever happens.
OAuthTokens post_token(HttpTransport& transport, const std::string& base_url, std::string body,
                       std::string basic_auth, const std::string& what, const Secrets& secrets) {
  HttpRequest request;
  request.method = "POST";
  request.url = normalise_base(base_url) + "/auth/o/token/";
  request.timeout_ms = kOAuthTimeoutMs;
  request.body = std::move(body);
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "plane_connector/0.1");
  if (!basic_auth.empty()) request.headers.emplace_back("Authorization", std::move(basic_auth));
  HttpResponse response;  // declared before the guard, so it outlives the wipe
  WipeOnExit wipe;
  wipe.watch(request.body);
  for (auto& header : request.headers) wipe.watch(header.second);
  wipe.watch(response.body);

  response = transport.perform(request);
  if (response.status < 200 || response.status >= 300) {
    throw_http_error(response, what, secrets, true);
  }
  return parse_tokens(response.body);
}

void require(const std::string& value, const char* what) {
  if (value.empty()) throw PlaneError(ErrorKind::Config, std::string("OAuth ") + what + " is empty");
}

}  // namespace

std::string oauth_authorize_url(const std::string& base_url, const std::string& client_id,
                                const std::string& redirect_uri, const std::string& scopes,
                                const std::string& state) {
  require(client_id, "client id");
  require(redirect_uri, "redirect URI");
  std::string url = normalise_base(base_url) + "/auth/o/authorize-app/?client_id=" +
                    url_encode(client_id) + "&response_type=code&redirect_uri=" +
                    url_encode(redirect_uri);
  if (!state.empty()) url += "&state=" + url_encode(state);
  if (!scopes.empty()) url += "&scope=" + url_encode(scopes);
  return url;
}

OAuthTokens exchange_code(HttpTransport& transport, const std::string& base_url,
                          const std::string& client_id, const std::string& client_secret,
                          const std::string& code, const std::string& redirect_uri) {
  require(client_id, "client id");
  require(client_secret, "client secret");
  require(code, "authorization code");
  const Secrets secrets({client_secret, code});
  std::string body = form_body({{"grant_type", "authorization_code"},
                                {"code", code},
                                {"client_id", client_id},
                                {"client_secret", client_secret},
                                {"redirect_uri", redirect_uri}});
  return post_token(transport, base_url, std::move(body), std::string(), "authorization code",
                    secrets);
}

OAuthTokens refresh_tokens(HttpTransport& transport, const std::string& base_url,
                           const std::string& client_id, const std::string& client_secret,
                           const std::string& refresh_token) {
  require(client_id, "client id");
  require(client_secret, "client secret");
  require(refresh_token, "refresh token");
  const Secrets secrets({client_secret, refresh_token});
  std::string body = form_body({{"grant_type", "refresh_token"},
                                {"refresh_token", refresh_token},
                                {"client_id", client_id},
                                {"client_secret", client_secret}});
  return post_token(transport, base_url, std::move(body), std::string(), "refresh token", secrets);
}

OAuthTokens bot_token(HttpTransport& transport, const std::string& base_url,
                      const std::string& client_id, const std::string& client_secret,
                      const std::string& app_installation_id, const std::string& scope) {
  require(client_id, "client id");
  require(client_secret, "client secret");
  require(app_installation_id, "app installation id");
  const Secrets secrets({client_secret});
  std::string pair = client_id + ":" + client_secret;
  std::string encoded = base64(pair);
  secure_wipe(pair);
  std::string basic = "Basic " + encoded;
  secure_wipe(encoded);
  std::string body = form_body({{"grant_type", "client_credentials"},
                                {"app_installation_id", app_installation_id},
                                {"scope", scope}});
  return post_token(transport, base_url, std::move(body), std::move(basic), "client credentials",
                    secrets);
}

namespace {

// GET url with `Authorization: Bearer <token>` (`bearer` bare or already "Bearer ..."); a status
// outside 2xx throws as throw_http_error classifies it for `what`, never quoting the token.
HttpResponse bearer_get(HttpTransport& transport, const std::string& url,
                        const std::string& bearer, const std::string& what) {
  std::string_view token(bearer);
  if (token.size() > 7 && (token.substr(0, 7) == "Bearer " || token.substr(0, 7) == "bearer ")) {
    token.remove_prefix(7);
  }
  const Secrets secrets({token});
  HttpRequest request;
  request.url = url;
  request.timeout_ms = kOAuthTimeoutMs;
  request.headers.emplace_back("Accept", "application/json");
  request.headers.emplace_back("User-Agent", "plane_connector/0.1");
  request.headers.emplace_back("Authorization", "Bearer " + std::string(token));
  WipeOnExit wipe;
  wipe.watch(request.headers.back().second);
  HttpResponse response = transport.perform(request);
  if (response.status < 200 || response.status >= 300) {
    throw_http_error(response, what, secrets, false);
  }
  return response;
}

}  // namespace

std::string app_installation_workspace(HttpTransport& transport, const std::string& base_url,
                                       const std::string& bearer,
                                       const std::string& installation_id) {
  require(bearer, "bearer token");
  require(installation_id, "app installation id");
  const HttpResponse response = bearer_get(
      transport,
      normalise_base(base_url) + "/auth/o/app-installation/?id=" + url_encode(installation_id),
      bearer, "app installation");
  if (too_deep(response.body)) {
    throw PlaneError(ErrorKind::Parse, "app installation response nests deeper than " +
                                           std::to_string(kMaxAnswerDepth) + " levels");
  }
  json doc = json::parse(response.body.begin(), response.body.end(), nullptr, false);
  if (doc.is_discarded()) {
    throw PlaneError(ErrorKind::Parse, "app installation response is not JSON");
  }
  if (doc.is_object()) doc = json::array({doc});  // tolerate a single object
  if (!doc.is_array()) {
    throw PlaneError(ErrorKind::Parse, "app installation response is not a JSON array");
  }
  if (doc.empty()) {
    throw PlaneError(ErrorKind::Http,
                     "Plane knows no app installation " + installation_id + " for this token",
                     response.status);
  }
  const json* chosen = &doc.front();
  for (const auto& entry : doc) {
    if (entry.is_object() && entry.value("id", json()).is_string() &&
        entry["id"].get<std::string>() == installation_id) {
      chosen = &entry;
      break;
    }
  }
  if (!chosen->is_object()) {
    throw PlaneError(ErrorKind::Parse, "app installation entry is not a JSON object");
  }
  auto detail = chosen->find("workspace_detail");
  if (detail == chosen->end() || !detail->is_object()) {
    throw PlaneError(ErrorKind::Parse, "app installation has no workspace_detail");
  }
  auto slug = detail->find("slug");
  if (slug == detail->end() || !slug->is_string() || slug->get_ref<const std::string&>().empty()) {
    throw PlaneError(ErrorKind::Parse, "app installation has no workspace_detail.slug");
  }
  return slug->get<std::string>();
}

std::string oauth_token_user(HttpTransport& transport, const std::string& base_url,
                             const std::string& bearer) {
  require(bearer, "bearer token");
  const HttpResponse response =
      bearer_get(transport, normalise_base(base_url) + "/api/v1/users/me/", bearer, "current user");
  if (too_deep(response.body)) {
    throw PlaneError(ErrorKind::Parse, "users/me response nests deeper than " +
                                           std::to_string(kMaxAnswerDepth) + " levels");
  }
  const json doc = json::parse(response.body.begin(), response.body.end(), nullptr, false);
  if (!doc.is_object() || !doc.contains("id") || !doc["id"].is_string() ||
      doc["id"].get_ref<const std::string&>().empty()) {
    throw PlaneError(ErrorKind::Parse, "Plane's users/me answer has no id");
  }
  return doc["id"].get<std::string>();
}

std::string random_state_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw PlaneError(ErrorKind::Internal, "OpenSSL could not produce random bytes");
  }
  return to_hex(bytes, sizeof bytes);
}

}  // namespace plane
