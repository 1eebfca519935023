#include "pg/webhook_ingest.hpp"

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

int ingest_webhook(const std::string& slug, const std::string& headers_json, std::string_view body) {
  if (!plane::valid_workspace_slug(slug)) return 404;
  // One statement for both lookups: each delivery pays one executor run before its INSERT.
  InstallationSecret found =
      read_installation_secret_in_transaction(slug, "plane_webhook_secret:" + slug);
  std::string& secret = found.secret;
  if (!found.installed) return 404;

  const std::size_t max_body = static_cast<std::size_t>(settings.webhook_max_body_kb) * 1024;
  if (body.size() > max_body) {
    plane::secure_wipe(secret);
    count(slug, Counter::TooLarge);
    return 413;
  }
  if (secret.empty()) {
    // Not the sender's fault: a 5xx makes Plane Cloud retry once the secret is stored.
    ereport(WARNING, (errmsg("plane_connector: no Vault secret 'plane_webhook_secret:%s': webhook "
                             "deliveries for it are refused with 503",
                             slug.c_str()),
                      errhint("SELECT vault.create_secret('<webhook secret>', "
                              "'plane_webhook_secret:%s')",
                              slug.c_str())));
    return 503;
  }
  nlohmann::json headers = nlohmann::json::parse(headers_json.empty() ? "null" : headers_json,
                                                 nullptr, false);
  std::string message;
  const plane::WebhookVerdict verdict = plane::check_webhook_request(
      secret, body, plane::headers_from_json(headers), max_body, message);
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
    pg_call([&]() noexcept {
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
    event = plane::parse_webhook_envelope(tokens.tokens, tokens.count,
                                          plane::headers_from_json(headers));
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

}  // namespace plane::pg
