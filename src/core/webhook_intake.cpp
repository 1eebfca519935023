#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/webhook_intake.hpp"

#include <openssl/crypto.h>

#include <cstring>

#include "core/errors.hpp"
#include "core/runtime.hpp"
#include "core/workspace_slug.hpp"

namespace plane {

std::string_view SecretCache::get(std::string_view slug, std::int64_t now_ms,
                                  std::int64_t ttl_ms) const noexcept {
  if (ttl_ms <= 0) return {};
  for (const Slot& s : slots_) {
    if (s.used && slug == s.slug && now_ms - s.read_at_ms < ttl_ms) {
      return std::string_view(s.secret, s.secret_len);
    }
  }
  return {};
}

void SecretCache::put(std::string_view slug, std::string_view secret, std::int64_t now_ms) noexcept {
  if (slug.size() > kMaxSlug || secret.size() > kMaxSecret || secret.empty()) return;
  forget(slug);
  Slot* target = nullptr;
  for (Slot& s : slots_) {
    if (!s.used) {
      target = &s;
      break;
    }
    if (target == nullptr || s.read_at_ms < target->read_at_ms) target = &s;  // the oldest goes
  }
  OPENSSL_cleanse(target->secret, sizeof target->secret);
  std::memcpy(target->slug, slug.data(), slug.size());
  target->slug[slug.size()] = '\0';
  std::memcpy(target->secret, secret.data(), secret.size());
  target->secret[secret.size()] = '\0';
  target->secret_len = secret.size();
  target->read_at_ms = now_ms;
  target->used = true;
}

void SecretCache::forget(std::string_view slug) noexcept {
  for (Slot& s : slots_) {
    if (s.used && slug == s.slug) {
      OPENSSL_cleanse(s.secret, sizeof s.secret);
      s.used = false;
    }
  }
}

std::int64_t SecretCache::wipe_expired(std::int64_t now_ms, std::int64_t ttl_ms) noexcept {
  std::int64_t next = 0;
  for (Slot& s : slots_) {
    if (!s.used) continue;
    if (now_ms - s.read_at_ms >= ttl_ms) {
      OPENSSL_cleanse(s.secret, sizeof s.secret);
      s.used = false;
    } else if (next == 0 || s.read_at_ms + ttl_ms < next) {
      next = s.read_at_ms + ttl_ms;
    }
  }
  return next;
}

void SecretCache::wipe_all() noexcept {
  for (Slot& s : slots_) {
    OPENSSL_cleanse(s.secret, sizeof s.secret);
    s.used = false;
  }
}

namespace {

// A secret held for one delivery, wiped when it goes.
struct HeldSecret {
  std::string value;
  bool reused = false;
  ~HeldSecret() { secure_wipe(value); }
};

}  // namespace

IntakeResult accept_delivery(IntakePort& port, SecretCache& cache, const IntakeOptions& options,
                             const std::string& slug, const HeaderMap& headers, std::string_view body) {
  IntakeResult result;
  if (!valid_workspace_slug(slug)) {
    result.status = 404;
    return result;
  }
  if (const std::string reason = port.unserved_reason(); !reason.empty()) {
    port.warn("plane_connector: webhook delivery for \"" + slug + "\" refused with 503: " + reason,
              "Deliver webhooks to the database named by plane.database, on the primary.");
    result.status = 503;
    return result;
  }
  HeldSecret secret;
  // Reads the secret afresh (and keeps it for plane.webhook_secret_cache), or reuses a recent one.
  auto lookup = [&](bool allow_reuse) -> SecretStatus {
    const std::int64_t now = port.now_ms();
    if (allow_reuse) {
      const std::string_view cached = cache.get(slug, now, options.secret_cache_ms);
      if (!cached.empty()) {
        secret.value.assign(cached);
        secret.reused = true;
        return SecretStatus::Found;
      }
    }
    secret.reused = false;
    cache.forget(slug);
    SecretRead read = port.read_secret(slug);
    if (read.status == SecretStatus::Found) {
      if (options.secret_cache_ms > 0) cache.put(slug, read.secret, now);
      secure_wipe(secret.value);
      secret.value = std::move(read.secret);
    }
    secure_wipe(read.secret);
    return read.status;
  };

  const SecretStatus status = lookup(/*allow_reuse=*/true);
  if (status == SecretStatus::NotInstalled) {
    result.status = 404;
    return result;
  }
  if (body.size() > options.auth.max_body_bytes) {
    port.count(slug, IntakeCounter::TooLarge);
    result.status = 413;
    return result;
  }
  auto no_secret = [&] {
    // Not the sender's fault: a 5xx makes Plane Cloud retry once the secret is stored.
    port.warn("plane_connector: no Vault secret 'plane_webhook_secret:" + slug +
                  "': webhook deliveries for it are refused with 503",
              "SELECT vault.create_secret('<webhook secret>', 'plane_webhook_secret:" + slug + "')");
    result.status = 503;
    return result;
  };
  if (status == SecretStatus::NoSecret) return no_secret();
  std::string message;
  WebhookVerdict verdict = check_webhook_request(secret.value, body, headers, options.auth, message);
  if (verdict == WebhookVerdict::Unauthorized && secret.reused) {
    // The secret may have been replaced since it was read: read it again, once.
    const SecretStatus again = lookup(/*allow_reuse=*/false);
    if (again == SecretStatus::NotInstalled) {
      result.status = 404;
      return result;
    }
    if (again == SecretStatus::NoSecret) return no_secret();  // as without the cache
    if (again == SecretStatus::Found) {
      verdict = check_webhook_request(secret.value, body, headers, options.auth, message);
    }
  }
  switch (verdict) {
    case WebhookVerdict::Unauthorized: port.count(slug, IntakeCounter::Unauthorized); result.status = 401; return result;
    case WebhookVerdict::Malformed: port.count(slug, IntakeCounter::Malformed); result.status = 400; return result;
    case WebhookVerdict::TooLarge: port.count(slug, IntakeCounter::TooLarge); result.status = 413; return result;
    case WebhookVerdict::Accepted: break;
  }
  // The queue stores jsonb, which refuses \u0000 in strings: refused here as the sender's fault.
  const JsonToken* tokens = nullptr;
  std::size_t count = 0;
  if (body.find("\\u0000") != std::string_view::npos || !port.parse_body(body, tokens, count)) {
    port.count(slug, IntakeCounter::Malformed);
    result.status = 400;
    return result;
  }
  WebhookEvent event;
  try {
    event = parse_webhook_envelope(tokens, count, headers);
  } catch (const PlaneError&) {
    port.count(slug, IntakeCounter::Malformed);
    result.status = 400;
    return result;
  }
  const bool inserted = port.enqueue(event, event.known ? "pending" : "ignored");
  port.count(slug, inserted ? IntakeCounter::Accepted : IntakeCounter::Duplicate);
  result.status = 200;
  result.enqueued = inserted && event.known;
  return result;
}

}  // namespace plane
