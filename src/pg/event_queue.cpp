#include "pg/event_queue.hpp"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/json_tokens.hpp"
#include "core/webhook.hpp"
#include "pg/boundary.hpp"
#include "pg/column_upsert.hpp"
#include "pg/gucs.hpp"
#include "pg/jsonb_tokens.hpp"
#include "pg/shared_state.hpp"
#include "pg/spi_plan.hpp"

extern "C" {
#include "utils/array.h"
}

namespace plane::pg {

namespace {

struct ClaimedEvent {
  long long id;
  std::string slug;
  JsonbTokens payload;  // in the batch's memory context (BatchMemory)
  Jsonb* data;          // the payload's "data" object, the mirror row's raw (nullptr if none)
};

// Where a batch's payloads live from the claim until the batch is applied, across the commit that
// separates them for a leased claim; deleted with the batch (or when an error unwinds it).
class BatchMemory {
 public:
  BatchMemory() {
    pg_call([this]() noexcept {
      // NOLINTNEXTLINE(bugprone-implicit-widening-of-multiplication-result): Postgres's macro
      cxt_ = AllocSetContextCreate(TopMemoryContext, "plane_connector queue batch",
                                   ALLOCSET_DEFAULT_SIZES);
    });
  }
  ~BatchMemory() {
    if (cxt_ != nullptr) MemoryContextDelete(cxt_);
  }
  BatchMemory(const BatchMemory&) = delete;
  BatchMemory& operator=(const BatchMemory&) = delete;
  MemoryContext context() const { return cxt_; }

 private:
  MemoryContext cxt_ = nullptr;
};

// What applying one event does, prepared in C++ before any Postgres call.
// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann's noexcept move is flagged through its asserts
struct PreparedEvent {
  long long id;
  std::string slug;
  std::string error;            // non-empty: the payload cannot be applied (dead at once)
  bool request_sync = false;    // the payload was partial: let the sync engine fetch the object
  plane::MirrorTable table = plane::MirrorTable::Items;
  bool upsert = false;
  bool gone = false;            // deleted: gone_at
  bool archived = false;        // archived: archived_at (and gone_at for work items)
  std::string plane_id;
  nlohmann::json row;    // the mapped mirror row (its raw is `raw`)
  Jsonb* raw = nullptr;  // the payload's data object, in the batch's memory
};

KeptPlan claim_plan{
    "UPDATE ops.event_queue q SET status = 'processing', attempts = q.attempts + 1, "
    "leased_until = now() + make_interval(secs => $2) "
    // = ANY (ARRAY(...)): an index scan on the primary key whatever the statistics say (an IN
    // (subquery) can be planned as a hash join over the whole queue).
    "WHERE q.id = ANY (ARRAY(SELECT e.id FROM ops.event_queue e WHERE e.source = 'plane' AND "
    "((e.status = 'pending' AND e.next_attempt_at <= now()) OR "
    " (e.status = 'processing' AND e.leased_until < now())) "
    "ORDER BY e.id LIMIT $1 FOR UPDATE SKIP LOCKED)) "
    "RETURNING q.id, q.workspace_slug, q.payload",
    2,
    {INT4OID, INT4OID},
    nullptr};

KeptPlan mark_done_plan{
    "UPDATE ops.event_queue SET status = 'done', processed_at = now(), leased_until = NULL, "
    "last_error = NULL WHERE id = ANY ($1)",
    1,
    {INT8ARRAYOID},
    nullptr};

// The ids as a bigint[] Datum in the current memory context (inside pg_call).
Datum int8_array(const std::vector<long long>& ids) noexcept {
  Datum* elems = static_cast<Datum*>(palloc(sizeof(Datum) * (ids.size() + 1)));
  for (size_t i = 0; i < ids.size(); ++i) elems[i] = Int64GetDatum(ids[i]);
  return PointerGetDatum(construct_array(elems, static_cast<int>(ids.size()), INT8OID, 8,
                                         FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

// pgmq/graphile-style backoff: exp(least(attempts, 10)) seconds; dead after the last attempt.
// $5: 1 when the claim did not count the attempt (claim_done_plan, see drain_batch_in_worker).
KeptPlan mark_failed_plan{
    "UPDATE ops.event_queue SET leased_until = NULL, processed_at = NULL, "
    "last_error = left($2, 2000), "
    "attempts = attempts + $5, "
    "status = CASE WHEN $3 OR attempts + $5 >= $4 THEN 'dead' ELSE 'pending' END, "
    "next_attempt_at = now() + make_interval(secs => exp(least(attempts + $5, 10))) WHERE id = $1",
    5,
    {INT8OID, TEXTOID, BOOLOID, INT4OID, INT4OID},
    nullptr};

// A claim that marks the batch done as it locks it, for a batch claimed, applied and marked in one
// transaction: one row version per event instead of two (the lease's and the mark's), and no
// second pass over the batch. An event that then fails is marked again (mark_failed_plan).
KeptPlan claim_done_plan{
    "UPDATE ops.event_queue q SET status = 'done', processed_at = now(), leased_until = NULL, "
    "last_error = NULL "
    "WHERE q.id = ANY (ARRAY(SELECT e.id FROM ops.event_queue e WHERE e.source = 'plane' AND "
    "((e.status = 'pending' AND e.next_attempt_at <= now()) OR "
    " (e.status = 'processing' AND e.leased_until < now())) "
    "ORDER BY e.id LIMIT $1 FOR UPDATE SKIP LOCKED)) "
    "RETURNING q.id, q.workspace_slug, q.payload",
    1,
    {INT4OID},
    nullptr};

KeptPlan request_sync_plan{
    "UPDATE work_plane.sync_state SET requested_at = coalesce(requested_at, now()), "
    "state = CASE WHEN state IN ('running', 'queued') THEN state ELSE 'queued' END "
    "WHERE workspace_slug = $1",
    1,
    {TEXTOID},
    nullptr};

PreparedEvent prepare(const ClaimedEvent& claimed) {
  PreparedEvent p;
  p.id = claimed.id;
  p.slug = claimed.slug;
  try {
    plane::WebhookEvent event = plane::parse_webhook_document(
        plane::json_from_tokens(claimed.payload.tokens, claimed.payload.count,
                                plane::kMaxWebhookJsonDepth),
        {}, plane::WebhookKey::Skip);
    std::optional<plane::WebhookMirrorChange> change = plane::webhook_mirror_change(std::move(event));
    if (!change) return p;  // nothing to apply (not a mirrored type)
    p.table = change->table == "projects" ? plane::MirrorTable::Projects
              : change->table == "pages"  ? plane::MirrorTable::Pages
                                          : plane::MirrorTable::Items;
    p.plane_id = change->plane_id;
    switch (change->op) {
      case plane::MirrorOp::Upsert:
        // Without Plane's updated_at the row could not be ordered against the mirror: a partial
        // payload is not applied; the workspace's sync (same client and budget, requests
        // coalesced) fetches the object instead.
        if (!change->row.contains("plane_updated_at") || change->row["plane_updated_at"].is_null()) {
          p.request_sync = true;
        } else {
          p.upsert = true;
          // raw is the payload's data object as the queue holds it (jsonb), not a copy of it
          // through C++: the mapped object is that same data object.
          change->row.erase("raw");
          p.row = std::move(change->row);
          p.raw = claimed.data;
        }
        break;
      case plane::MirrorOp::Delete: p.gone = true; break;
      case plane::MirrorOp::Archive: p.archived = true; break;
    }
  } catch (const plane::PlaneError& e) {
    p.error = std::string("payload cannot be applied: ") + e.what();
  }
  return p;
}

// Statement texts for gone/archived marks, per table (constant fragments only).
std::string gone_sql(plane::MirrorTable table) {
  return std::string("UPDATE ") + mirror_table_name(table) +
         " SET gone_at = coalesce(gone_at, now()) WHERE workspace_slug = $1 AND plane_id = ANY "
         "(ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))";
}

std::string archived_sql(plane::MirrorTable table) {
  // Archived work items vanish from Plane's lists like deleted ones (§1): gone too; archived
  // projects, cycles, modules and pages stay listed.
  std::string sql = std::string("UPDATE ") + mirror_table_name(table) +
                    " SET archived_at = coalesce(archived_at, now())";
  if (table == plane::MirrorTable::Items) {
    sql += ", gone_at = CASE WHEN item_type = 'issue' THEN coalesce(gone_at, now()) ELSE gone_at END";
  }
  return sql + " WHERE workspace_slug = $1 AND plane_id = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))";
}

// One group of work: all upserts of a (workspace, table), or all marks of one kind.
struct Group {
  std::string slug;
  plane::MirrorTable table;
  int kind;  // 0 upsert, 1 gone, 2 archived, 3 request sync
  nlohmann::json items = nlohmann::json::array();  // plane ids (marks)
  std::vector<long long> event_ids;
  std::string text;  // marks: the ids as JSON, serialised before entering Postgres code
  std::shared_ptr<ColumnRows> rows;  // upserts
  std::string sql;
};

std::vector<Group> group_events(const std::vector<PreparedEvent>& events) {
  std::map<std::tuple<std::string, int, int>, Group> groups;
  for (const auto& e : events) {
    if (!e.error.empty()) continue;
    int kind = e.upsert ? 0 : e.gone ? 1 : e.archived ? 2 : e.request_sync ? 3 : -1;
    if (kind < 0) continue;
    auto key = std::make_tuple(e.slug, static_cast<int>(e.table), kind);
    Group& g = groups[key];
    g.slug = e.slug;
    g.table = e.table;
    g.kind = kind;
    if (kind == 0) {
      if (!g.rows) g.rows = std::make_shared<ColumnRows>(e.table);
      g.rows->add(e.row, e.raw);
    } else if (kind == 1 || kind == 2) {
      g.items.push_back(e.plane_id);
    }
    g.event_ids.push_back(e.id);
  }
  std::vector<Group> out;
  for (auto& [key, g] : groups) {
    if (g.kind != 0) g.text = g.items.dump();
    if (g.kind == 1) g.sql = gone_sql(g.table);
    if (g.kind == 2) g.sql = archived_sql(g.table);
    out.push_back(std::move(g));
  }
  return out;
}

// Applies groups; with SPI connected. C-level only (called inside pg_call).
void apply_groups(const std::vector<Group>& groups) noexcept {
  bool wake_launcher_needed = false;
  for (const auto& g : groups) {
    if (g.kind == 0) {
      g.rows->upsert(g.slug.c_str());
    } else if (g.kind == 1 || g.kind == 2) {
      Oid types[2] = {TEXTOID, TEXTOID};
      Datum values[2] = {CStringGetTextDatum(g.slug.c_str()), CStringGetTextDatum(g.text.c_str())};
      if (SPI_execute_with_args(g.sql.c_str(), 2, types, values, nullptr, false, 0) != SPI_OK_UPDATE) {
        elog(ERROR, "plane_connector: could not mark rows");
      }
    } else if (g.kind == 3) {
      Datum values[1] = {CStringGetTextDatum(g.slug.c_str())};
      exec_kept(request_sync_plan, values, nullptr, false, SPI_OK_UPDATE);
      wake_launcher_needed = true;
    }
  }
  if (wake_launcher_needed) {
    // The launcher is woken directly: the sync request is visible once this transaction commits,
    // and a launcher that looks early finds it on its next nap at the latest.
    wake_launcher();
  }
}

// Runs fn with SPI connected in a subtransaction; a Postgres ERROR rolls it back and is returned.
template <typename F>
bool applied_in_subtransaction(F&& fn, std::string& error) {
  try {
    in_subtransaction([&]() noexcept {
      spi_connect();
      fn();
      SPI_finish();
    });
  } catch (const PgError& e) {
    error = e.what();
    return false;
  }
  return true;
}

// How a batch was claimed: leased (attempts counted, marked done after applying) or marked done by
// the claim itself (attempts not counted: a failure counts its attempt when it is marked).
enum class ClaimMode { Leased, MarkedDone };

// Applies claimed events inside the current transaction: first all together (set-based); if that
// fails, one by one so that one bad event cannot hold back the others. Returns applied count.
int apply_claimed(const std::vector<ClaimedEvent>& claimed, ClaimMode mode = ClaimMode::Leased) {
  std::vector<PreparedEvent> prepared;
  prepared.reserve(claimed.size());
  for (const auto& c : claimed) prepared.push_back(prepare(c));

  std::vector<long long> done;
  std::vector<std::pair<long long, std::string>> failed;   // retried later
  std::vector<std::pair<long long, std::string>> poison;   // dead at once
  for (const auto& p : prepared) {
    if (!p.error.empty()) poison.emplace_back(p.id, p.error);
  }
  std::vector<Group> groups = group_events(prepared);
  std::string error;
  if (applied_in_subtransaction([&]() noexcept { apply_groups(groups); }, error)) {
    for (const auto& p : prepared) {
      if (p.error.empty()) done.push_back(p.id);
    }
  } else {
    for (const auto& p : prepared) {
      if (!p.error.empty()) continue;
      std::vector<Group> one = group_events({p});
      std::string one_error;
      if (applied_in_subtransaction([&]() noexcept { apply_groups(one); }, one_error)) {
        done.push_back(p.id);
      } else {
        failed.emplace_back(p.id, one_error);
      }
    }
  }
  const int max_attempts = settings.queue_max_attempts;
  pg_call([&]() noexcept {
    spi_connect();
    if (!done.empty() && mode == ClaimMode::Leased) {
      Datum values[1] = {int8_array(done)};
      exec_kept(mark_done_plan, values, nullptr, false, SPI_OK_UPDATE);
    }
    for (const auto* list : {&failed, &poison}) {
      for (const auto& [id, message] : *list) {
        Datum values[5] = {Int64GetDatum(id), CStringGetTextDatum(message.c_str()),
                           BoolGetDatum(list == &poison), Int32GetDatum(max_attempts),
                           Int32GetDatum(mode == ClaimMode::Leased ? 0 : 1)};
        exec_kept(mark_failed_plan, values, nullptr, false, SPI_OK_UPDATE);
      }
    }
    SPI_finish();
  });
  // Counters per workspace (shared memory, not transactional: a figure, not a ledger).
  std::map<std::string, long> per_slug;
  for (const auto& p : prepared) {
    if (p.error.empty()) ++per_slug[p.slug];
  }
  for (const auto& [slug, n] : per_slug) {
    if (WebhookCounters* c = webhook_counters(slug.c_str())) pg_atomic_fetch_add_u64(&c->applied, n);
  }
  return static_cast<int>(done.size());
}

// Claims up to `limit` ready events (SPI connected): leased (committed apart) or marked done in
// the caller's transaction. Payloads are copied into `memory` and flattened there. C-level only.
void claim(int limit, MemoryContext memory, std::vector<ClaimedEvent>& out,
           ClaimMode mode = ClaimMode::Leased) noexcept {
  Datum values[2] = {Int32GetDatum(limit), Int32GetDatum(settings.queue_lease_s)};
  exec_kept(mode == ClaimMode::Leased ? claim_plan : claim_done_plan, values, nullptr, false,
            SPI_OK_UPDATE_RETURNING);
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull = false;
    out.emplace_back();  // owned by the caller's vector, not by this frame (see pg_call)
    ClaimedEvent& e = out.back();
    e.id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
    char* slug = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
    e.slug = slug != nullptr ? slug : "";
    Datum payload = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);
    MemoryContext caller = MemoryContextSwitchTo(memory);
    Jsonb* jb = DatumGetJsonbPCopy(payload);  // payload is NOT NULL
    e.payload = flatten_jsonb(jb);
    e.data = nullptr;
    if (JsonContainerIsObject(&jb->root)) {
      JsonbValue v;
      JsonbValue* data = getKeyJsonValueFromContainer(&jb->root, "data", 4, &v);
      if (data != nullptr && data->type == jbvBinary && JsonContainerIsObject(data->val.binary.data)) {
        e.data = JsonbValueToJsonb(data);
      }
    }
    MemoryContextSwitchTo(caller);
  }
}

}  // namespace

int process_events_inline(int max_events) {
  int applied = 0;
  int remaining = max_events;
  while (remaining > 0) {
    std::vector<ClaimedEvent> claimed;
    const int limit = std::min(remaining, std::max(1, settings.queue_batch_size));
    BatchMemory memory;
    pg_call([&]() noexcept {
      spi_connect();
      claim(limit, memory.context(), claimed);
      SPI_finish();
    });
    if (claimed.empty()) break;
    applied += apply_claimed(claimed);
    remaining -= static_cast<int>(claimed.size());
  }
  return applied;
}

int drain_batch_in_worker(int batch_size) {
  // Two ways to claim. Leased: the claim (attempts + 1, leased_until) commits in a transaction of
  // its own before the batch is applied, so that an event that crashes the worker has its
  // attempts counted and is dead-lettered in the end. Marked done: the claim marks the batch done
  // and the batch is applied in the same transaction (a crash rolls it all back and the events
  // are simply pending again), one row version per event instead of two. The worker leases its
  // first batch after every start — the batch a crash left behind comes first, in id order — and
  // claims marking done while all goes well.
  static bool lease_next = true;
  std::vector<ClaimedEvent> claimed;
  BatchMemory memory;
  if (lease_next) {
    in_transaction([&]() noexcept { claim(batch_size, memory.context(), claimed, ClaimMode::Leased); });
    if (claimed.empty()) return 0;
    with_transaction([&] { apply_claimed(claimed); });
    lease_next = false;
    return static_cast<int>(claimed.size());
  }
  try {
    with_transaction([&] {
      pg_call([&]() noexcept {
        spi_connect();
        claim(batch_size, memory.context(), claimed, ClaimMode::MarkedDone);
        SPI_finish();
      });
      if (!claimed.empty()) apply_claimed(claimed, ClaimMode::MarkedDone);
    });
  } catch (...) {
    lease_next = true;  // rolled back, attempts uncounted: count them from now on
    throw;
  }
  return static_cast<int>(claimed.size());
}

long seconds_until_next_event() {
  long seconds = -1;
  in_transaction([&]() noexcept {
    SPI_execute(
        // min() over no rows is NULL, and greatest() would turn that into 0: a busy loop.
        "SELECT CASE WHEN min(next_attempt_at) IS NOT NULL THEN "
        "ceil(greatest(0, extract(epoch FROM min(next_attempt_at) - now())))::int8 END "
        "FROM ops.event_queue WHERE source = 'plane' AND status = 'pending'",
        true, 1);
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
    SPI_execute_with_args(
        "DELETE FROM ops.event_queue WHERE id IN (SELECT id FROM ops.event_queue "
        "WHERE source = 'plane' AND status IN ('done', 'ignored') "
        "AND coalesce(processed_at, created_at) < now() - make_interval(secs => $1) LIMIT 10000)",
        1, types, values, nullptr, false, 0);
  });
}

}  // namespace plane::pg
