// libFuzzer target for src/core/webhook: authentication and envelope parsing of arbitrary bytes.
// Build and run: see test/fuzz/README.md. Any crash, sanitizer report, exception other than
// PlaneError(Parse) from the mirror mapping, or broken invariant (trap) is a finding.
//
// The first byte picks how the rest is delivered, so the parser sees hostile bodies that pass
// authentication as well as requests that must stop at it:
//   '0' (mod 4 == 0): body = rest, correctly signed               -> parse + mirror change
//   '1' (mod 4 == 1): body = rest, signature header = its first 64 bytes (almost always refused)
//   '2' (mod 4 == 2): "<x-plane-event header>\n<body>", signed      -> header fallback paths
//   '3' (mod 4 == 3): "<headers as JSON>\n<body>", shared-secret header -> headers_from_json
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/errors.hpp"
#include "core/webhook.hpp"

namespace {

constexpr std::string_view kSecret = "plane_wh_fuzz0123456789abcdef";

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void exercise(std::string_view body, const plane::HeaderMap& headers) {
  plane::WebhookResult r = plane::handle_webhook(kSecret, body, headers, 1u << 20);
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
  try {
    auto change = plane::webhook_mirror_change(ev);
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
        if (plane::json_nesting_depth(head) <= plane::kMaxWebhookJsonDepth) {
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
