// The queue's Postgres side: claims rows of ops.event_queue, runs the statements the core's
// QueueEngine decides on, and arranges the transactions. What an event does, what is retried and
// what is dead-lettered is decided in core/queue_engine.
#include "pg/event_queue.hpp"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/json_tokens.hpp"
#include "core/queue_engine.hpp"
#include "core/text.hpp"
#include "pg/boundary.hpp"
#include "pg/calendar_zones.hpp"
#include "pg/column_upsert.hpp"
#include "pg/gucs.hpp"
#include "pg/jsonb_tokens.hpp"
#include "pg/shared_state.hpp"
#include "pg/spi_plan.hpp"
#include "pg/sync_state_store.hpp"

extern "C" {
#include "utils/array.h"
}

namespace plane::pg {

namespace {

// Claims ready events ordered by id, locking them (FOR UPDATE SKIP LOCKED: concurrent drainers
// never take the same row). $1 limit, $2 lease seconds. `= ANY (ARRAY(...))` is an index scan on
// the primary key whatever the statistics say (an IN (subquery) can become a hash join over the
// whole queue).
#define PLANE_CLAIM_READY                                                                        \
  "q.id = ANY (ARRAY(SELECT e.id FROM ops.event_queue e WHERE e.source = 'plane' AND "           \
  "e.status = 'pending' AND e.next_attempt_at <= pg_catalog.now() "                              \
  "ORDER BY e.id LIMIT $1 FOR UPDATE SKIP LOCKED))"
// Events of a leased batch never finished: only the queue worker leases, so at its start every
// such row belongs to a run of it that died (perhaps because of one of them).
#define PLANE_CLAIM_SUSPECT                                                                      \
  "q.id = ANY (ARRAY(SELECT e.id FROM ops.event_queue e WHERE e.source = 'plane' AND "           \
  "e.status = 'processing' ORDER BY e.id LIMIT $1 FOR UPDATE SKIP LOCKED))"
#define PLANE_LEASE                                                                              \
  "UPDATE ops.event_queue q SET status = 'processing', attempts = q.attempts + 1, "               \
  "leased_until = pg_catalog.now() + pg_catalog.make_interval(secs => $2::float8) WHERE "
#define PLANE_RETURNING " RETURNING q.id, q.workspace_slug, q.attempts, q.payload"

KeptPlan lease_plan{PLANE_LEASE PLANE_CLAIM_READY PLANE_RETURNING, 2, {INT4OID, INT4OID}, nullptr};
KeptPlan lease_suspect_plan{PLANE_LEASE PLANE_CLAIM_SUSPECT PLANE_RETURNING, 2, {INT4OID, INT4OID},
                            nullptr};
// A claim that marks the batch done as it locks it, for a batch claimed, applied and marked in one
// transaction: one row version per event instead of two. An event that then fails is marked again.
KeptPlan claim_done_plan{
    "UPDATE ops.event_queue q SET status = 'done', processed_at = pg_catalog.now(), "
    "leased_until = NULL, last_error = NULL WHERE " PLANE_CLAIM_READY PLANE_RETURNING,
    1,
    {INT4OID},
    nullptr};

KeptPlan mark_done_plan{
    "UPDATE ops.event_queue SET status = 'done', processed_at = pg_catalog.now(), leased_until = NULL, "
    "last_error = NULL WHERE id = ANY ($1)",
    1,
    {INT8ARRAYOID},
    nullptr};

// $3 dead, $4 seconds until the next attempt, $5 1 when this mark counts the attempt.
KeptPlan mark_failed_plan{
    "UPDATE ops.event_queue SET leased_until = NULL, processed_at = NULL, "
    "last_error = pg_catalog.left($2, 2000), attempts = attempts + $5, "
    "status = CASE WHEN $3 THEN 'dead' ELSE 'pending' END, "
    "next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(secs => $4::float8) WHERE id = $1",
    5,
    {INT8OID, TEXTOID, BOOLOID, INT8OID, INT4OID},
    nullptr};

// The ids as a bigint[] / text[] Datum in the current memory context (inside pg_call).
Datum int8_array(const std::vector<long long>& ids) noexcept {
  Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * (ids.size() + 1)));
  for (size_t i = 0; i < ids.size(); ++i) elems[i] = Int64GetDatum(ids[i]);
  return PointerGetDatum(construct_array(elems, static_cast<int>(ids.size()), INT8OID, 8,
                                         FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum text_array(const std::vector<std::string>& ids) noexcept {
  Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * (ids.size() + 1)));
  for (size_t i = 0; i < ids.size(); ++i) elems[i] = CStringGetTextDatum(ids[i].c_str());
  return PointerGetDatum(construct_array(elems, static_cast<int>(ids.size()), TEXTOID, -1, false,
                                         TYPALIGN_INT));
}

// Statement texts for gone/archived marks, per table (constant fragments only).
std::string gone_sql(plane::MirrorTable table) {
  return std::string("UPDATE ") + plane::mirror_table_name(table) +
         " SET gone_at = coalesce(gone_at, pg_catalog.now()), change_source = 'webhook' "
         "WHERE workspace_slug = $1 AND plane_id = ANY ($2)";
}

std::string archived_sql(plane::MirrorTable table) {
  // Archived work items vanish from Plane's lists like deleted ones: gone too; archived projects,
  // cycles, modules and pages stay listed.
  std::string sql = std::string("UPDATE ") + plane::mirror_table_name(table) +
                    " SET archived_at = coalesce(archived_at, pg_catalog.now()), "
                    "change_source = 'webhook'";
  if (table == plane::MirrorTable::Items) {
    sql += ", gone_at = CASE WHEN item_type = 'issue' THEN coalesce(gone_at, pg_catalog.now()) "
           "ELSE gone_at END";
  }
  return sql + " WHERE workspace_slug = $1 AND plane_id = ANY ($2)";
}

// plane.fault_injection = 'crash_on_apply:<plane id>': the process aborts when it applies a
// group holding that object, as a fault in the apply path would. For the crash tests only.
bool crash_requested(const plane::ApplyGroup& group) {
  const char* fault = settings.fault_injection;
  constexpr std::string_view kPrefix = "crash_on_apply:";
  if (fault == nullptr || std::string_view(fault).rfind(kPrefix, 0) != 0) return false;
  const std::string_view id = std::string_view(fault).substr(kPrefix.size());
  for (const auto& p : group.plane_ids) {
    if (p == id) return true;
  }
  for (const auto& row : group.rows) {
    if (row.value("plane_id", "") == id) return true;
  }
  return false;
}

// One group as the statement needs it, prepared in C++ before any Postgres call.
struct PreparedGroup {
  const plane::ApplyGroup* group;
  std::unique_ptr<ColumnRows> rows;  // Upsert
  std::string sql;                   // MarkGone, MarkArchived
  bool crash = false;
};

class PgQueueStore final : public plane::QueueStore {
 public:
  bool apply(const std::vector<plane::ApplyGroup>& groups, std::string& error) override {
    std::vector<PreparedGroup> prepared;
    for (const auto& g : groups) {
      PreparedGroup p{&g, nullptr, "", crash_requested(g)};
      if (g.kind == plane::ApplyKind::Upsert) {
        p.rows = std::make_unique<ColumnRows>(g.table);
        for (std::size_t i = 0; i < g.rows.size(); ++i) {
          if (i < g.raws.size() && !g.raws[i].empty()) {
            p.rows->add(g.rows[i], g.raws[i]);
          } else {
            p.rows->add(g.rows[i]);
          }
        }
      } else if (g.kind == plane::ApplyKind::MarkGone) {
        p.sql = gone_sql(g.table);
      } else if (g.kind == plane::ApplyKind::MarkArchived) {
        p.sql = archived_sql(g.table);
      }
      prepared.push_back(std::move(p));
    }
    bool wake_launcher_needed = false;
    try {
      in_subtransaction([&]() noexcept {
        spi_connect();
        for (const auto& p : prepared) {
          const plane::ApplyGroup& g = *p.group;
          if (p.crash) abort();  // plane.fault_injection: a fault that kills the process
          switch (g.kind) {
            case plane::ApplyKind::Upsert: p.rows->upsert(g.slug.c_str(), plane::ChangeSource::Webhook); break;
            case plane::ApplyKind::MarkGone:
            case plane::ApplyKind::MarkArchived: {
              Oid types[2] = {TEXTOID, TEXTARRAYOID};
              Datum values[2] = {CStringGetTextDatum(g.slug.c_str()), text_array(g.plane_ids)};
              exec_sql(p.sql.c_str(), 2, types, values, nullptr, false, SPI_OK_UPDATE);
              break;
            }
            case plane::ApplyKind::RequestSync:
              request_sync_in_transaction(g.slug.c_str());
              wake_launcher_needed = true;
              break;
          }
        }
        SPI_finish();
      });
    } catch (const PgError& e) {
      error = e.what();
      return false;
    }
    // The sync request is visible once this transaction commits; a launcher woken early finds it
    // on its next nap at the latest.
    if (wake_launcher_needed) wake_launcher();
    return true;
  }

  void mark_done(const std::vector<long long>& ids) override {
    pg_call([&]() noexcept {
      spi_connect();
      Datum values[1] = {int8_array(ids)};
      exec_kept(mark_done_plan, values, nullptr, false, SPI_OK_UPDATE);
      SPI_finish();
    });
  }

  void mark_failed(long long id, const std::string& error, bool dead, std::int64_t retry_in_s,
                   bool count_attempt) override {
    const std::string message = plane::truncate_utf8(error, 2000);
    pg_call([&]() noexcept {
      spi_connect();
      Datum values[5] = {Int64GetDatum(id), CStringGetTextDatum(message.c_str()), BoolGetDatum(dead),
                         Int64GetDatum(retry_in_s), Int32GetDatum(count_attempt ? 1 : 0)};
      exec_kept(mark_failed_plan, values, nullptr, false, SPI_OK_UPDATE);
      SPI_finish();
    });
  }

  void count_applied(const std::string& slug, long events) override {
    // Shared memory, not transactional: a figure, not a ledger.
    if (WebhookCounters* c = webhook_counters(slug.c_str())) {
      pg_atomic_fetch_add_u64(&c->applied, static_cast<uint64>(events));
    }
  }

  std::int64_t now_us() override {
    return static_cast<std::int64_t>(GetCurrentTimestamp()) +
           static_cast<std::int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
  }
};

// Where claimed payloads are flattened, until they are built into C++ documents.
class ClaimMemory {
 public:
  ClaimMemory() {
    pg_call([this]() noexcept {
      // NOLINTNEXTLINE(bugprone-implicit-widening-of-multiplication-result): Postgres's macro
      cxt_ = AllocSetContextCreate(TopMemoryContext, "plane_connector queue claim", ALLOCSET_DEFAULT_SIZES);
    });
  }
  ~ClaimMemory() {
    if (cxt_ != nullptr) MemoryContextDelete(cxt_);
  }
  ClaimMemory(const ClaimMemory&) = delete;
  ClaimMemory& operator=(const ClaimMemory&) = delete;
  MemoryContext context() const { return cxt_; }

 private:
  MemoryContext cxt_ = nullptr;
};

struct ClaimedRow {
  long long id;
  int attempts;
  std::string slug;
  JsonbTokens payload;
};

// Claims with SPI connected; payloads flattened into `memory`. C-level (inside pg_call).
void claim_rows(const plane::ClaimRequest& request, MemoryContext memory,
                std::vector<ClaimedRow>& out) noexcept {
  Datum values[2] = {Int32GetDatum(request.limit), Int32GetDatum(settings.queue_lease_s)};
  KeptPlan& plan = request.mode == plane::ClaimMode::MarkedDone ? claim_done_plan
                   : request.suspects                           ? lease_suspect_plan
                                                                : lease_plan;
  exec_kept(plan, values, nullptr, false, SPI_OK_UPDATE_RETURNING);
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull = false;
    const long long id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
    char* slug = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
    const int attempts = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
    Datum payload = SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull);
    MemoryContext caller = MemoryContextSwitchTo(memory);
    const JsonbTokens tokens = flatten_jsonb(DatumGetJsonbPCopy(payload));  // payload is NOT NULL
    MemoryContextSwitchTo(caller);
    cpp_step([&] { out.push_back(ClaimedRow{id, attempts, slug != nullptr ? slug : "", tokens}); });
  }
}

// The claimed rows as the engine takes them: each payload's tokens (one route from jsonb into C++:
// flattened tokens, read by the core), copied out of the claim's memory. A payload the core cannot
// read is dead-lettered by the engine as malformed.
std::vector<plane::QueuedEvent> to_events(std::vector<ClaimedRow>& rows) {
  std::vector<plane::QueuedEvent> events;
  events.reserve(rows.size());
  for (auto& r : rows) {
    plane::QueuedEvent e;
    e.id = r.id;
    e.slug = std::move(r.slug);
    e.attempts = r.attempts;
    e.payload = plane::OwnedTokens::copy_of(r.payload.tokens, r.payload.count);
    events.push_back(std::move(e));
  }
  return events;
}

plane::QueueConfig queue_config() {
  plane::QueueConfig config;
  config.max_attempts = settings.queue_max_attempts;
  return config;
}

std::vector<plane::QueuedEvent> claim_in_transaction(const plane::ClaimRequest& request) {
  ClaimMemory memory;
  std::vector<ClaimedRow> rows;
  pg_call([&]() noexcept {
    spi_connect();
    claim_rows(request, memory.context(), rows);
    SPI_finish();
  });
  return to_events(rows);
}

}  // namespace

int process_events_inline(int max_events) {
  PgQueueStore store;
  PgCalendarZones zones;
  plane::QueueEngine engine(store, queue_config(), &zones);
  int applied = 0;
  int remaining = max_events;
  while (remaining > 0) {
    const plane::ClaimRequest request{std::min(remaining, std::max(1, settings.queue_batch_size)),
                                      plane::ClaimMode::Leased, false};
    std::vector<plane::QueuedEvent> events = claim_in_transaction(request);
    if (events.empty()) break;
    remaining -= static_cast<int>(events.size());
    applied += engine.apply(std::move(events), plane::ClaimMode::Leased);
  }
  return applied;
}

int drain_batch_in_worker(int batch_size) {
  static plane::DrainPolicy policy(batch_size);
  PgQueueStore store;
  PgCalendarZones zones;
  plane::QueueEngine engine(store, queue_config(), &zones);
  for (;;) {
    const plane::ClaimRequest request = policy.next();
    if (request.mode == plane::ClaimMode::Leased) {
      // The lease commits on its own: an event that kills the worker has its attempt counted.
      std::vector<plane::QueuedEvent> events;
      with_transaction([&] { events = claim_in_transaction(request); });
      policy.claimed(request, events.size());
      if (events.empty()) {
        if (request.suspects) continue;  // none left from a crashed run: on to the ready events
        return 0;
      }
      const int claimed = static_cast<int>(events.size());
      with_transaction([&] { engine.apply(std::move(events), plane::ClaimMode::Leased); });
      // A suspect is one event: report a full batch so that the caller drains on.
      return request.suspects ? batch_size : claimed;
    }
    std::size_t claimed = 0;
    try {
      with_transaction([&] {
        std::vector<plane::QueuedEvent> events = claim_in_transaction(request);
        claimed = events.size();
        if (!events.empty()) engine.apply(std::move(events), plane::ClaimMode::MarkedDone);
      });
    } catch (...) {
      policy.failed();  // rolled back, attempts uncounted: count them from now on
      throw;
    }
    policy.claimed(request, claimed);
    return static_cast<int>(claimed);
  }
}

long seconds_until_next_event() {
  long seconds = -1;
  in_transaction([&]() noexcept {
    exec_sql(
        // min() over no rows is NULL, and greatest() would turn that into 0: a busy loop.
        "SELECT CASE WHEN pg_catalog.min(next_attempt_at) IS NOT NULL THEN "
        "pg_catalog.ceil(greatest(0, pg_catalog.date_part('epoch', "
        "pg_catalog.min(next_attempt_at) - pg_catalog.now())))::int8 END "
        "FROM ops.event_queue WHERE source = 'plane' AND status = 'pending'",
        0, nullptr, nullptr, nullptr, true, SPI_OK_SELECT, 1);
    bool isnull = true;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (!isnull) seconds = static_cast<long>(DatumGetInt64(d));
  });
  return seconds;
}

void prune_applied_events() {
  in_transaction([&]() noexcept {
    Oid types[1] = {INT4OID};
    Datum values[1] = {Int32GetDatum(settings.queue_retention_s)};
    exec_sql(
        "DELETE FROM ops.event_queue WHERE id IN (SELECT id FROM ops.event_queue "
        "WHERE source = 'plane' AND status IN ('done', 'ignored') "
        "AND coalesce(processed_at, created_at) < pg_catalog.now() - "
        "pg_catalog.make_interval(secs => $1::float8) LIMIT 10000)",
        1, types, values, nullptr, false, SPI_OK_DELETE);
  });
}

}  // namespace plane::pg
