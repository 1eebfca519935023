#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/webhook_auth.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

#include "core/digest.hpp"
#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/text.hpp"

namespace plane {

using nlohmann::json;

std::optional<std::string_view> header_value(const HeaderMap& headers, std::string_view name) {
  std::optional<std::string_view> found;
  for (const auto& [k, v] : headers) {
    if (!ascii_iequals(k, name)) continue;
    if (found) return std::nullopt;
    found = v;
  }
  return found;
}

namespace {

// OpenSSL wants non-null pointers even for empty input.
const unsigned char* bytes_of(std::string_view s) {
  static const unsigned char empty = 0;
  return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

namespace {

// One header into the map: the name lower-cased, a second spelling of a name joined with ", ".
void add_header(HeaderMap& out, std::string_view name, std::string value) {
  auto [pos, inserted] = out.emplace(ascii_lower(name), value);
  if (!inserted) pos->second += ", " + value;
}

// A header's value as headers_from_json renders a scalar: strings as they are, numbers and
// booleans as JSON text; nullopt for null.
std::optional<std::string> scalar_header_value(const JsonToken& t) {
  switch (t.kind) {
    case JsonTokenKind::String: return std::string(t.text, t.len);
    case JsonTokenKind::Number:
      try {
        return json_number(t).dump();
      } catch (const PlaneError&) {
        return std::nullopt;  // not a number JSON can hold: dropped, like any unreadable value
      }
    case JsonTokenKind::True: return std::string("true");
    case JsonTokenKind::False: return std::string("false");
    default: return std::nullopt;
  }
}

}  // namespace

HeaderMap headers_from_json(const json& headers) {
  HeaderMap out;
  if (!headers.is_object()) return out;
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    std::string value;
    const json& v = it.value();
    if (v.is_string()) {
      value = v.get<std::string>();
    } else if (v.is_number() || v.is_boolean()) {
      value = v.dump();
    } else if (v.is_array()) {
      bool any = false;
      for (const json& e : v) {
        if (!e.is_string()) continue;
        if (any) value += ", ";
        value += e.get<std::string>();
        any = true;
      }
      if (!any) continue;
    } else {
      continue;
    }
    add_header(out, it.key(), std::move(value));
  }
  return out;
}

// The same reading straight from the tokens (no document is built): a request's headers are a
// flat object, read on every delivery.
HeaderMap headers_from_tokens(const JsonToken* tokens, std::size_t count) {
  HeaderMap out;
  if (count < 2 || tokens[0].kind != JsonTokenKind::BeginObject ||
      tokens[count - 1].kind != JsonTokenKind::EndObject) {
    return out;
  }
  std::size_t i = 1;
  while (i + 1 < count) {
    if (tokens[i].kind != JsonTokenKind::Key) return {};
    const std::string_view name(tokens[i].text, tokens[i].len);
    const JsonToken& v = tokens[i + 1];
    if (v.kind == JsonTokenKind::BeginObject) {
      i = json_container_end(tokens, count, i + 1) + 1;
      continue;
    }
    if (v.kind != JsonTokenKind::BeginArray) {
      if (auto value = scalar_header_value(v)) add_header(out, name, std::move(*value));
      i += 2;
      continue;
    }
    // An array: its string elements joined with ", " (others skipped); nothing if none.
    std::string joined;
    bool any = false;
    std::size_t j = i + 2;
    while (j < count && tokens[j].kind != JsonTokenKind::EndArray) {
      const JsonTokenKind k = tokens[j].kind;
      if (k == JsonTokenKind::BeginObject || k == JsonTokenKind::BeginArray) {
        j = json_container_end(tokens, count, j) + 1;
        continue;
      }
      if (k == JsonTokenKind::String) {
        if (any) joined += ", ";
        joined.append(tokens[j].text, tokens[j].len);
        any = true;
      }
      ++j;
    }
    if (j >= count) return {};  // unclosed
    if (any) add_header(out, name, std::move(joined));
    i = j + 1;
  }
  if (i + 1 != count) return {};
  return out;
}

int webhook_http_status(WebhookVerdict verdict) {
  switch (verdict) {
    case WebhookVerdict::Accepted: return 200;
    case WebhookVerdict::Unauthorized: return 401;
    case WebhookVerdict::Malformed: return 400;
    case WebhookVerdict::TooLarge: return 413;
  }
  return 500;
}

const char* webhook_verdict_name(WebhookVerdict verdict) {
  switch (verdict) {
    case WebhookVerdict::Accepted: return "accepted";
    case WebhookVerdict::Unauthorized: return "unauthorized";
    case WebhookVerdict::Malformed: return "malformed";
    case WebhookVerdict::TooLarge: return "too_large";
  }
  return "unknown";
}


namespace {

// An HMAC-SHA256 context with its implementations fetched once per process: OpenSSL 3's one-shot
// HMAC() fetches the MAC and the digest on every call, which costs several times the hashing of a
// webhook body. Each thread keys a copy (EVP_MAC_CTX_dup); the template itself is never keyed, and
// lives as long as the process (freeing it at exit could run after OpenSSL's own cleanup).
const EVP_MAC_CTX* hmac_sha256_template() {
  static EVP_MAC_CTX* const tmpl = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    EVP_MAC_free(mac);  // the context keeps its own reference
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (ctx != nullptr && EVP_MAC_CTX_set_params(ctx, params) != 1) {
      EVP_MAC_CTX_free(ctx);
      ctx = nullptr;
    }
    return ctx;
  }();
  if (tmpl == nullptr) throw PlaneError(ErrorKind::Internal, "HMAC-SHA256 unavailable (OpenSSL)");
  return tmpl;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  // One context per thread, keyed afresh by each call (EVP_MAC_init): no copy per call.
  thread_local const std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(
      EVP_MAC_CTX_dup(hmac_sha256_template()), &EVP_MAC_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (ctx == nullptr || EVP_MAC_init(ctx.get(), bytes_of(key), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), bytes_of(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), md, &len, sizeof md) != 1) {
    throw PlaneError(ErrorKind::Internal, "HMAC-SHA256 failed (OpenSSL)");
  }
  return to_hex(md, len);
}

bool verify_webhook_signature(std::string_view secret, std::string_view body, const HeaderMap& headers,
                              bool accept_secret_header) {
  if (secret.empty()) return false;
  bool ok = false;
  if (auto sig = header_value(headers, "x-plane-signature")) {
    std::string given = ascii_lower(trim_blanks(*sig));
    std::string expected = hmac_sha256_hex(secret, body);
    if (given.size() == expected.size() &&
        CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0) {
      ok = true;
    }
  }
  auto shared = accept_secret_header ? header_value(headers, "x-plane-webhook-secret") : std::nullopt;
  if (shared) {
    // Digests first: equal length, so the comparison time says nothing about the secret.
    const std::string a = sha256_hex(*shared);
    const std::string b = sha256_hex(secret);
    if (a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0) ok = true;
  }
  return ok;
}


WebhookVerdict check_webhook_request(std::string_view secret, std::string_view body,
                                     const HeaderMap& headers, const WebhookAuthOptions& options,
                                     std::string& message) {
  if (body.size() > options.max_body_bytes) {
    message = "webhook body of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
              std::to_string(options.max_body_bytes);
    return WebhookVerdict::TooLarge;
  }
  if (!verify_webhook_signature(secret, body, headers, options.accept_secret_header)) {
    message = secret.empty() ? "no webhook secret is configured" : "webhook signature missing or invalid";
    return WebhookVerdict::Unauthorized;
  }
  if (json_nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    message = "webhook body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return WebhookVerdict::Malformed;
  }
  message.clear();
  return WebhookVerdict::Accepted;
}

}  // namespace plane
