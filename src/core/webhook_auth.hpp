// Authenticating a Plane webhook request: its headers, its size, and its signature, before any
// byte of the body is parsed. Plane signs the raw body: X-Plane-Signature is the hex
// HMAC-SHA256 of the exact bytes with the webhook's secret, so any JSON round trip of the body
// (Plane separates with ", " and ": " and escapes non-ASCII as \uXXXX) would break it.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/json_tokens.hpp"

namespace plane {

// Request headers, names lower-cased ("x-plane-signature"). Lookups here are case-insensitive
// anyway; a name present twice under different cases counts as absent (never guessed).
using HeaderMap = std::map<std::string, std::string>;

// Builds a HeaderMap from the request's headers as jsonb ({"X-Plane-Signature": "…", …}): names are
// lower-cased; string values kept, arrays of strings joined with ", " (RFC 9110 field combining),
// numbers rendered, other values dropped; names that collide after lower-casing are joined with
// ", " too (so a doubled signature header no longer verifies). A non-object gives an empty map.
HeaderMap headers_from_json(const nlohmann::json& headers);
// The same from a token stream (core/json_tokens.hpp), without building a document; a stream that
// is not one object gives an empty map, like any other non-object.
HeaderMap headers_from_tokens(const JsonToken* tokens, std::size_t count);

// The value of a header whatever the case of its name; nullopt when absent, or present under two
// spellings (ambiguous: never pick one).
std::optional<std::string_view> header_value(const HeaderMap& headers, std::string_view name);

enum class WebhookVerdict { Accepted, Unauthorized, Malformed, TooLarge };

// The HTTP status to answer Plane with: 200, 401, 400, 413.
int webhook_http_status(WebhookVerdict verdict);
const char* webhook_verdict_name(WebhookVerdict verdict);  // "accepted", "unauthorized", …

// Bodies larger than this are refused before any other work (callers may pass their own limit).
inline constexpr std::size_t kDefaultMaxWebhookBodyBytes = 5u * 1024u * 1024u;

struct WebhookAuthOptions {
  std::size_t max_body_bytes = kDefaultMaxWebhookBodyBytes;
  // Also accept X-Plane-Webhook-Secret carrying the secret itself, for a proxy that re-encodes
  // bodies. Off by default: a header that carries the secret is one log line away from leaking it.
  bool accept_secret_header = false;
};

// Authenticates a request. True when either
//  - x-plane-signature is the hex HMAC-SHA256(secret, body) — 64 hex digits, either case,
//    surrounding blanks ignored, compared in constant time; or
//  - accept_secret_header is set and x-plane-webhook-secret equals secret (compared in constant
//    time via SHA-256 digests, so not even the secret's length leaks).
// False when the secret is empty, the headers are missing, or neither matches.
bool verify_webhook_signature(std::string_view secret, std::string_view body, const HeaderMap& headers,
                              bool accept_secret_header = false);

// Size, then authentication, then the nesting check of the raw text: Accepted means
// "authenticated, and safe to parse"; otherwise message says why (never quoting the body).
WebhookVerdict check_webhook_request(std::string_view secret, std::string_view body,
                                     const HeaderMap& headers, const WebhookAuthOptions& options,
                                     std::string& message);

// Lowercase hex HMAC-SHA256(key, data) (OpenSSL). 64 characters.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

}  // namespace plane
