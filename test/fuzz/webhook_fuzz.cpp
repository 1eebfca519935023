// libFuzzer target for the webhook modules: authentication, envelope parsing and the mirror change
// (REST shape) of arbitrary bytes.
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

// The document's tokens as the Postgres layer reads them out of jsonb (keys in any order).
void flatten(const nlohmann::json& j, std::vector<std::string>& texts,
             std::vector<plane::JsonToken>& out) {
  using K = plane::JsonTokenKind;
  auto text = [&](std::string s) -> plane::JsonToken {
    texts.push_back(std::move(s));
    return {K::String, nullptr, 0};
  };
  if (j.is_object()) {
    out.push_back({K::BeginObject, nullptr, 0});
    for (auto it = j.begin(); it != j.end(); ++it) {
      out.push_back(text(it.key()));
      out.back().kind = K::Key;
      flatten(it.value(), texts, out);
    }
    out.push_back({K::EndObject, nullptr, 0});
  } else if (j.is_array()) {
    out.push_back({K::BeginArray, nullptr, 0});
    for (const auto& e : j) flatten(e, texts, out);
    out.push_back({K::EndArray, nullptr, 0});
  } else if (j.is_string()) {
    out.push_back(text(j.get<std::string>()));
  } else if (j.is_number()) {
    out.push_back(text(j.dump()));
    out.back().kind = K::Number;
  } else if (j.is_boolean()) {
    out.push_back({j.get<bool>() ? K::True : K::False, nullptr, 0});
  } else {
    out.push_back({K::Null, nullptr, 0});
  }
}

// Ingest reads the envelope from pruned tokens: it must key, name and judge every accepted body
// exactly as the full parse does.
void check_envelope_matches(std::string_view body, const plane::HeaderMap& headers,
                            const plane::WebhookEvent& full) {
  const nlohmann::json doc = nlohmann::json::parse(body.begin(), body.end());
  std::vector<std::string> texts;
  texts.reserve(body.size() + 8);  // one text per token at most: no reallocation under the pointers
  std::vector<plane::JsonToken> tokens;
  flatten(doc, texts, tokens);
  std::size_t t = 0;
  for (auto& tok : tokens) {
    if (tok.kind == plane::JsonTokenKind::Key || tok.kind == plane::JsonTokenKind::String ||
        tok.kind == plane::JsonTokenKind::Number) {
      tok.text = texts[t].data();
      tok.len = texts[t].size();
      ++t;
    }
  }
  const plane::WebhookEvent env = plane::parse_webhook_envelope(tokens.data(), tokens.size(), headers);
  check(env.idempotency_key == full.idempotency_key);
  check(env.event == full.event && env.known == full.known && env.entity_id == full.entity_id);
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
  check_envelope_matches(body, headers, ev);
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
