#include "pg/webhook_ingest.hpp"

#include <map>
#include <vector>

#include "core/errors.hpp"
#include "core/json_tokens.hpp"
#include "core/runtime.hpp"
#include "core/webhook.hpp"
#include "core/workspace_slug.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/jsonb_tokens.hpp"
#include "pg/shared_state.hpp"
#include "pg/spi_plan.hpp"
#include "pg/vault.hpp"

namespace plane::pg {

namespace {

bool queue_wake_pending = false;
bool queue_callback_registered = false;

void on_commit_wake_queue(XactEvent event, void* arg) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
    // Nobody to wake when the queue is drained by process_events (pg_cron) instead.
    if (queue_wake_pending && settings.queue_worker_enabled) wake_queue_worker();
    queue_wake_pending = false;
  } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    queue_wake_pending = false;
  }
}

// ON CONFLICT DO NOTHING: a retry or a duplicate delivery is a silent 200 that enqueues nothing.
// One kept plan, run by the executor like any INSERT: triggers, rules, constraints, executor hooks
// and a DBA's changes to the table all apply.
KeptPlan enqueue{
    "INSERT INTO ops.event_queue (source, idempotency_key, workspace_slug, event_type, "
    "delivery_id, payload, status) VALUES ('plane', $1, $2, $3, nullif($4, ''), $5, $6) "
    "ON CONFLICT (idempotency_key) DO NOTHING",
    6,
    {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID},
    nullptr};

// Errors of jsonb_in that mean "this text is not JSON Postgres can store": the sender's fault (400).
bool is_bad_json_input(int sqlerrcode) {
  return sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION ||
         sqlerrcode == ERRCODE_UNTRANSLATABLE_CHARACTER ||
         sqlerrcode == ERRCODE_CHARACTER_NOT_IN_REPERTOIRE ||
         sqlerrcode == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE ||
         sqlerrcode == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

enum class Counter { Accepted, Duplicate, Unauthorized, Malformed, TooLarge };

void count(const std::string& slug, Counter which) {
  WebhookCounters* c = webhook_counters(slug.c_str());
  if (c == nullptr) {
    if (which != Counter::Accepted && which != Counter::Duplicate && shared_state() != nullptr) {
      pg_atomic_fetch_add_u64(&shared_state()->counters_overflow_rejected, 1);
    }
    return;
  }
  switch (which) {
    case Counter::Accepted: pg_atomic_fetch_add_u64(&c->accepted, 1); break;
    case Counter::Duplicate: pg_atomic_fetch_add_u64(&c->duplicates, 1); break;
    case Counter::Unauthorized: pg_atomic_fetch_add_u64(&c->unauthorized, 1); break;
    case Counter::Malformed: pg_atomic_fetch_add_u64(&c->malformed, 1); break;
    case Counter::TooLarge: pg_atomic_fetch_add_u64(&c->too_large, 1); break;
  }
}

}  // namespace

void wake_queue_worker_at_commit() {
  if (!queue_callback_registered) {
    RegisterXactCallback(on_commit_wake_queue, nullptr);
    queue_callback_registered = true;
  }
  queue_wake_pending = true;
}

namespace {

// A workspace's webhook secret as this backend last read it (plane.webhook_secret_cache). Only
// installed workspaces with a secret are kept, so the map is bounded by the installations.
struct CachedSecret {
  std::string secret;
  TimestampTz read_at;
};
std::map<std::string, CachedSecret> secret_cache;
// Read in the current transaction: what it saw may have been its own uncommitted change (a secret
// it created, an installation it added), so its entries are forgotten if it aborts.
std::vector<std::string> cached_in_transaction;
bool cache_callback_registered = false;

void forget_secret(const std::string& slug) {
  auto it = secret_cache.find(slug);
  if (it == secret_cache.end()) return;
  plane::secure_wipe(it->second.secret);
  secret_cache.erase(it);
}

void on_transaction_end_cache(XactEvent event, void* arg) {
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    for (const auto& slug : cached_in_transaction) forget_secret(slug);
  }
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
      event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
    cached_in_transaction.clear();
  }
}

enum class SecretLookup { Found, NotInstalled, NoSecret };

// The workspace's webhook secret: reused if read within plane.webhook_secret_cache, else read
// (one statement for the installation check and the Vault lookup). `reused` says which.
SecretLookup webhook_secret(const std::string& slug, bool allow_reuse, std::string& secret,
                            bool& reused) {
  const TimestampTz now = GetCurrentTimestamp();
  const long ttl_us = static_cast<long>(settings.webhook_secret_cache_ms) * 1000L;
  auto it = secret_cache.find(slug);
  reused = allow_reuse && ttl_us > 0 && it != secret_cache.end() && now - it->second.read_at < ttl_us;
  if (reused) {
    secret = it->second.secret;
    return SecretLookup::Found;
  }
  forget_secret(slug);
  InstallationSecret found = read_installation_secret_in_transaction(slug, "plane_webhook_secret:" + slug);
  if (!found.installed) return SecretLookup::NotInstalled;
  if (found.secret.empty()) return SecretLookup::NoSecret;
  secret = found.secret;
  if (ttl_us > 0) {
    if (!cache_callback_registered) {
      pg_call([]() noexcept { RegisterXactCallback(on_transaction_end_cache, nullptr); });
      cache_callback_registered = true;
    }
    cached_in_transaction.push_back(slug);
    secret_cache[slug] = CachedSecret{std::move(found.secret), now};
  }
  plane::secure_wipe(found.secret);
  return SecretLookup::Found;
}

}  // namespace

int ingest_webhook(const std::string& slug, const plane::HeaderMap& header_map, std::string_view body) {
  if (!plane::valid_workspace_slug(slug)) return 404;
  std::string secret;
  bool reused = false;
  const SecretLookup lookup = webhook_secret(slug, /*allow_reuse=*/true, secret, reused);
  if (lookup == SecretLookup::NotInstalled) return 404;

  const std::size_t max_body = static_cast<std::size_t>(settings.webhook_max_body_kb) * 1024;
  if (body.size() > max_body) {
    plane::secure_wipe(secret);
    count(slug, Counter::TooLarge);
    return 413;
  }
  if (lookup == SecretLookup::NoSecret) {
    // Not the sender's fault: a 5xx makes Plane Cloud retry once the secret is stored.
    ereport(WARNING, (errmsg("plane_connector: no Vault secret 'plane_webhook_secret:%s': webhook "
                             "deliveries for it are refused with 503",
                             slug.c_str()),
                      errhint("SELECT vault.create_secret('<webhook secret>', "
                              "'plane_webhook_secret:%s')",
                              slug.c_str())));
    return 503;
  }
  std::string message;
  plane::WebhookVerdict verdict =
      plane::check_webhook_request(secret, body, header_map, max_body, message);
  if (verdict == plane::WebhookVerdict::Unauthorized && reused) {
    // The secret may have been replaced since this backend read it: read it again, once.
    plane::secure_wipe(secret);
    const SecretLookup again = webhook_secret(slug, /*allow_reuse=*/false, secret, reused);
    if (again == SecretLookup::NotInstalled) return 404;
    if (again == SecretLookup::Found) {
      verdict = plane::check_webhook_request(secret, body, header_map, max_body, message);
    }
  }
  plane::secure_wipe(secret);
  switch (verdict) {
    case plane::WebhookVerdict::Unauthorized: count(slug, Counter::Unauthorized); return 401;
    case plane::WebhookVerdict::Malformed: count(slug, Counter::Malformed); return 400;
    case plane::WebhookVerdict::TooLarge: count(slug, Counter::TooLarge); return 413;
    case plane::WebhookVerdict::Accepted: break;
  }
  // jsonb refuses \u0000 in strings; refuse it here with a 400 rather than fail the statement.
  if (body.find("\\u0000") != std::string_view::npos) {
    count(slug, Counter::Malformed);
    return 400;
  }
  // The body is parsed once, by jsonb_in: the queue stores that jsonb, and the envelope is read out
  // of it (jsonb_tokens.hpp) rather than parsed a second time from the text.
  Datum payload = 0;
  JsonbTokens tokens{nullptr, 0};
  const std::string body_text(body);  // NUL-terminated for jsonb_in
  try {
    // In a subtransaction: jsonb_in's ERROR for a body it refuses is caught and answered 400, and
    // the caller's transaction must not carry on past a caught ERROR without a rollback.
    in_subtransaction([&]() noexcept {
      payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(body_text.c_str()));
      tokens = flatten_jsonb(DatumGetJsonbP(payload));
    });
  } catch (const PgError& e) {
    if (!is_bad_json_input(e.sqlerrcode())) throw;
    count(slug, Counter::Malformed);
    return 400;
  }
  plane::WebhookEvent event;
  try {
    event = plane::parse_webhook_envelope(tokens.tokens, tokens.count, header_map);
  } catch (const plane::PlaneError&) {
    count(slug, Counter::Malformed);
    return 400;
  }
  const char* status = event.known ? "pending" : "ignored";  // unknown types: recorded, not applied
  bool inserted = false;
  pg_call([&]() noexcept {
    spi_connect();
    Datum values[6] = {CStringGetTextDatum(event.idempotency_key.c_str()),
                       CStringGetTextDatum(slug.c_str()), CStringGetTextDatum(event.event.c_str()),
                       CStringGetTextDatum(event.delivery_id.c_str()), payload,
                       CStringGetTextDatum(status)};
    exec_kept(enqueue, values, nullptr, false, SPI_OK_INSERT);
    inserted = SPI_processed > 0;
    SPI_finish();
  });
  count(slug, inserted ? Counter::Accepted : Counter::Duplicate);
  if (inserted && event.known) wake_queue_worker_at_commit();
  return 200;
}

int ingest_webhook(const std::string& slug, const std::string& headers_json, std::string_view body) {
  const nlohmann::json headers =
      nlohmann::json::parse(headers_json.empty() ? "null" : headers_json, nullptr, false);
  return ingest_webhook(slug, plane::headers_from_json(headers), body);
}

}  // namespace plane::pg
