// libFuzzer target for the webhook modules: authentication, envelope parsing and the mirror change
// (REST shape) of arbitrary bytes.
// Build and run: see test/fuzz/README.md. Any crash, sanitizer report, exception other than
// PlaneError(Parse) from the mirror mapping, or broken invariant (trap) is a finding. The queue's
// route (the mirror change read from the payload's tokens) must agree with the document route.
//
// The first byte picks how the rest is delivered, so the parser sees hostile bodies that pass
// authentication as well as requests that must stop at it:
//   '0' (mod 4 == 0): body = rest, correctly signed               -> parse + mirror change
//   '1' (mod 4 == 1): body = rest, signature header = its first 64 bytes (almost always refused)
//   '2' (mod 4 == 2): "<x-plane-event header>\n<body>", signed      -> header fallback paths
//   '3' (mod 4 == 3): "<headers as JSON>\n<body>", shared-secret header -> headers_from_json
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/json_tokens.hpp"
#include "core/json_parse.hpp"
#include "core/webhook_auth.hpp"
#include "core/webhook_change.hpp"
#include "core/webhook_envelope.hpp"

namespace {

constexpr std::string_view kSecret = "plane_wh_fuzz0123456789abcdef";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Ingest reads the envelope from pruned tokens: it must key, name and judge every accepted body
// exactly as the full parse does.
void check_envelope_matches(const plane::OwnedTokens& tokens, const plane::HeaderMap& headers,
                            const plane::WebhookEvent& full) {
  const plane::WebhookEvent env = plane::parse_webhook_envelope(tokens.data(), tokens.size(), headers);
  check(env.idempotency_key == full.idempotency_key);
  check(env.event == full.event && env.known == full.known && env.entity_id == full.entity_id);
}

// The queue applies a delivery from its tokens (no headers): the same change, row and raw, as the
// document route, or the same refusal.
void check_token_route_matches(const nlohmann::json& doc, const plane::OwnedTokens& tokens) {
  std::optional<plane::WebhookMirrorChange> by_document, by_tokens;
  bool document_refused = false, tokens_refused = false;
  try {
    by_document = plane::webhook_mirror_change(plane::parse_webhook_document(doc, {}, plane::WebhookKey::Skip));
  } catch (const plane::PlaneError&) {
    document_refused = true;
  }
  try {
    by_tokens = plane::webhook_mirror_change(tokens.data(), tokens.size());
  } catch (const plane::PlaneError& e) {
    check(e.kind() == plane::ErrorKind::Parse);
    tokens_refused = true;
  }
  check(document_refused == tokens_refused);
  if (document_refused) return;
  check(by_document.has_value() == by_tokens.has_value());
  if (!by_document) return;
  check(by_document->op == by_tokens->op && by_document->table == by_tokens->table);
  check(by_document->plane_id == by_tokens->plane_id && by_document->project_id == by_tokens->project_id);
  nlohmann::json row = by_tokens->row;
  if (!by_tokens->raw_tokens.empty()) {
    check(!row.contains("raw"));
    row["raw"] = plane::json_from_tokens(by_tokens->raw_tokens.data(), by_tokens->raw_tokens.size(),
                                         plane::kMaxJsonDepth);
  }
  check(row == by_document->row);
}

void exercise(std::string_view body, const plane::HeaderMap& headers) {
  plane::WebhookAuthOptions options;
  options.max_body_bytes = 1u << 20;
  options.accept_secret_header = true;
  plane::WebhookResult r = plane::handle_webhook(kSecret, body, headers, options);
  check(r.event.has_value() == (r.verdict == plane::WebhookVerdict::Accepted));
  const int status = plane::webhook_http_status(r.verdict);
  check(status == 200 || status == 400 || status == 401 || status == 413);
  if (!r.event) {
    check(!r.message.empty());
    return;
  }
  const plane::WebhookEvent& ev = *r.event;
  check(!ev.event.empty());
  check(ev.idempotency_key.rfind("plane:event:", 0) == 0 && ev.idempotency_key.size() > 12);
  check(!ev.known || !ev.entity_id.empty());
  check(!(ev.is_delete && ev.is_archive));
  check(ev.data.is_object());
  const nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end());
  const plane::OwnedTokens tokens = plane::json_to_tokens(doc);
  check_envelope_matches(tokens, headers, ev);
  check_token_route_matches(doc, tokens);
  try {
    auto change = plane::webhook_mirror_change(plane::WebhookEvent(ev));
    check(change.has_value() == ev.known);
    if (change && change->op == plane::MirrorOp::Upsert) {
      check(change->row.is_object() && change->row.contains("raw"));
      (void)change->row.dump();  // what the Postgres layer will do with it
    }
  } catch (const plane::PlaneError& e) {
    check(e.kind() == plane::ErrorKind::Parse);  // e.g. an upsert whose data has no string id
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const unsigned mode = data[0] % 4;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Pure functions first: neither may crash on anything.
  (void)plane::json_nesting_depth(rest);
  (void)plane::hmac_sha256_hex(rest.substr(0, 16), rest);

  plane::HeaderMap headers;
  std::string_view body = rest;
  switch (mode) {
    case 0:
      headers["x-plane-signature"] = plane::hmac_sha256_hex(kSecret, body);
      headers["x-plane-delivery"] = "fuzz-delivery";
      break;
    case 1:
      headers["x-plane-signature"] = std::string(rest.substr(0, 64));
      break;
    case 2: {
      std::size_t nl = rest.find('\n');
      if (nl != std::string_view::npos) {
        headers["x-plane-event"] = std::string(rest.substr(0, nl));
        body = rest.substr(nl + 1);
      }
      headers["X-Plane-Signature"] = plane::hmac_sha256_hex(kSecret, body);
      break;
    }
    default: {
      std::size_t nl = rest.find('\n');
      if (nl != std::string_view::npos) {
        std::string_view head = rest.substr(0, nl);
        body = rest.substr(nl + 1);
        // Only depth-checked text reaches nlohmann here too.
        if (plane::json_nesting_depth(head) <= plane::kMaxJsonDepth) {
          auto j = nlohmann::json::parse(head.begin(), head.end(), nullptr, /*allow_exceptions=*/false);
          headers = plane::headers_from_json(j);
        }
      }
      headers["x-plane-webhook-secret"] = std::string(kSecret);
      break;
    }
  }
  exercise(body, headers);
  return 0;
}
