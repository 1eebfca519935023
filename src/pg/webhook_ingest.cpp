// work_plane.ingest_webhook's Postgres side: reads the secret, parses and enqueues for the core's
// accept_delivery (core/webhook_intake), which holds the rules.
#include "pg/webhook_ingest.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/runtime.hpp"
#include "core/webhook_intake.hpp"
#include "pg/boundary.hpp"
#include "pg/gucs.hpp"
#include "pg/jsonb_tokens.hpp"
#include "pg/shared_state.hpp"
#include "pg/spi_plan.hpp"
#include "pg/vault.hpp"

extern "C" {
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "utils/timeout.h"
}

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
KeptPlan enqueue_plan{
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

// ---------------------------------------------------------------------------------------------
// This backend's webhook secrets (plane.webhook_secret_cache). A secret read in a transaction that
// aborts is forgotten (it may have been that transaction's own uncommitted Vault entry), and every
// kept secret is wiped by a timer once the first of them lapses, even if the backend then sits idle.

plane::SecretCache secret_cache;
std::vector<std::string> cached_in_transaction;
bool cache_callback_registered = false;
TimeoutId wipe_timeout = MAX_TIMEOUTS;  // registered on first use

void wipe_secrets_on_timeout() {
  // Signal-handler context: the cache is plain memory and wipe_all allocates nothing. Ingest
  // disables this timer while it reads the cache.
  secret_cache.wipe_all();
}

void on_transaction_end_cache(XactEvent event, void* arg) {
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
    for (const auto& slug : cached_in_transaction) secret_cache.forget(slug);
  }
  if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
      event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
    cached_in_transaction.clear();
  }
}

// Holds the wipe timer off while a delivery uses the cache, and arms it again afterwards.
class CacheTimerPause {
 public:
  CacheTimerPause() {
    pg_call([]() noexcept {
      if (wipe_timeout == MAX_TIMEOUTS) wipe_timeout = RegisterTimeout(USER_TIMEOUT, wipe_secrets_on_timeout);
      disable_timeout(wipe_timeout, false);
    });
  }
  // Postgres's timer calls cannot fail short of a FATAL (setitimer refused), which ends the process.
  ~CacheTimerPause() {
    const std::int64_t ttl = settings.webhook_secret_cache_ms;
    if (ttl <= 0) {
      secret_cache.wipe_all();
      return;
    }
    const std::int64_t now = GetCurrentTimestamp() / 1000;
    const std::int64_t lapse = secret_cache.wipe_expired(now, ttl);
    if (lapse > 0) enable_timeout_after(wipe_timeout, static_cast<int>(std::max<std::int64_t>(1, lapse - now)));
  }
  CacheTimerPause(const CacheTimerPause&) = delete;
  CacheTimerPause& operator=(const CacheTimerPause&) = delete;
};

// Why the queue worker will not apply what is enqueued in this database ("" when it will).
std::string unserved_reason() {
  std::string reason;
  pg_call([&]() noexcept {
    if (RecoveryInProgress()) {
      cpp_step([&] { reason = "this server is a standby: nothing can be enqueued here"; });
      return;
    }
    // Without the library preloaded there is no worker at all, and no plane.database: the queue is
    // drained by work_plane.process_events (pg_cron), whatever the database.
    if (shared_state() == nullptr || !settings.queue_worker_enabled || settings.database == nullptr) return;
    const char* here = get_database_name(MyDatabaseId);
    if (here != nullptr && strcmp(here, settings.database) != 0) {
      cpp_step([&] {
        reason = std::string("plane.database is \"") + settings.database +
                 "\": no plane_connector queue worker serves database \"" + here + "\"";
      });
    }
  });
  return reason;
}

class PgIntakePort final : public plane::IntakePort {
 public:
  std::string unserved_reason() override { return plane::pg::unserved_reason(); }

  plane::SecretRead read_secret(const std::string& slug) override {
    InstallationSecret found = read_installation_secret_in_transaction(slug, "plane_webhook_secret:" + slug);
    plane::SecretRead read;
    read.status = !found.installed       ? plane::SecretStatus::NotInstalled
                  : found.secret.empty() ? plane::SecretStatus::NoSecret
                                         : plane::SecretStatus::Found;
    read.secret = std::move(found.secret);
    if (read.status == plane::SecretStatus::Found && settings.webhook_secret_cache_ms > 0) {
      if (!cache_callback_registered) {
        pg_call([]() noexcept { RegisterXactCallback(on_transaction_end_cache, nullptr); });
        cache_callback_registered = true;
      }
      cached_in_transaction.push_back(slug);
    }
    return read;
  }

  bool parse_body(std::string_view body, const plane::JsonToken*& tokens, std::size_t& count) override {
    // The body is parsed once, by jsonb_in: the queue stores that jsonb, and the envelope is read
    // out of it. In a subtransaction: jsonb_in's ERROR for a body it refuses is answered 400, and
    // the caller's transaction must not carry on past a caught ERROR without a rollback.
    const std::string text(body);  // NUL-terminated for jsonb_in
    JsonbTokens flat{nullptr, 0};
    try {
      in_subtransaction([&]() noexcept {
        payload_ = DirectFunctionCall1(jsonb_in, CStringGetDatum(text.c_str()));
        flat = flatten_jsonb(DatumGetJsonbP(payload_));
      });
    } catch (const PgError& e) {
      if (!is_bad_json_input(e.sqlerrcode())) throw;
      return false;
    }
    tokens = flat.tokens;
    count = flat.count;
    return true;
  }

  bool enqueue(const plane::WebhookEvent& event, const char* status) override {
    bool inserted = false;
    pg_call([&]() noexcept {
      spi_connect();
      Datum values[6] = {CStringGetTextDatum(event.idempotency_key.c_str()),
                         CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(event.event.c_str()),
                         CStringGetTextDatum(event.delivery_id.c_str()), payload_,
                         CStringGetTextDatum(status)};
      exec_kept(enqueue_plan, values, nullptr, false, SPI_OK_INSERT);
      inserted = SPI_processed > 0;
      SPI_finish();
    });
    return inserted;
  }

  void count(const std::string& slug, plane::IntakeCounter which) override {
    WebhookCounters* c = webhook_counters(slug.c_str());
    const bool rejection = which != plane::IntakeCounter::Accepted && which != plane::IntakeCounter::Duplicate;
    if (c == nullptr) {
      if (rejection && shared_state() != nullptr) {
        pg_atomic_fetch_add_u64(&shared_state()->counters_overflow_rejected, 1);
      }
      return;
    }
    switch (which) {
      case plane::IntakeCounter::Accepted: pg_atomic_fetch_add_u64(&c->accepted, 1); break;
      case plane::IntakeCounter::Duplicate: pg_atomic_fetch_add_u64(&c->duplicates, 1); break;
      case plane::IntakeCounter::Unauthorized: pg_atomic_fetch_add_u64(&c->unauthorized, 1); break;
      case plane::IntakeCounter::Malformed: pg_atomic_fetch_add_u64(&c->malformed, 1); break;
      case plane::IntakeCounter::TooLarge: pg_atomic_fetch_add_u64(&c->too_large, 1); break;
    }
  }

  void warn(const std::string& message, const std::string& hint) override {
    pg_call([&]() noexcept { ereport(WARNING, (errmsg("%s", message.c_str()), errhint("%s", hint.c_str()))); });
  }

  std::int64_t now_ms() override { return GetCurrentTimestamp() / 1000; }

  void set_slug(const std::string& slug) { slug_ = slug; }

 private:
  std::string slug_;
  Datum payload_ = 0;
};

}  // namespace

void wake_queue_worker_at_commit() {
  if (!queue_callback_registered) {
    RegisterXactCallback(on_commit_wake_queue, nullptr);
    queue_callback_registered = true;
  }
  queue_wake_pending = true;
}

int ingest_webhook(const std::string& slug, const plane::HeaderMap& header_map, std::string_view body) {
  PgIntakePort port;
  port.set_slug(slug);
  plane::IntakeOptions options;
  options.auth.max_body_bytes = static_cast<std::size_t>(settings.webhook_max_body_kb) * 1024;
  options.auth.accept_secret_header = settings.webhook_accept_secret_header;
  options.secret_cache_ms = settings.webhook_secret_cache_ms;
  plane::IntakeResult result;
  {
    CacheTimerPause pause;
    result = plane::accept_delivery(port, secret_cache, options, slug, header_map, body);
  }
  if (result.enqueued) pg_call([]() noexcept { wake_queue_worker_at_commit(); });
  return result.status;
}

int ingest_webhook(const std::string& slug, const std::string& headers_json, std::string_view body) {
  const nlohmann::json headers =
      nlohmann::json::parse(headers_json.empty() ? "null" : headers_json, nullptr, false);
  return ingest_webhook(slug, plane::headers_from_json(headers), body);
}

}  // namespace plane::pg
