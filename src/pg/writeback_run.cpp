#include "pg/writeback_run.hpp"

#include <optional>
#include <vector>

#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/json_tokens.hpp"
#include "core/text.hpp"
#include "pg/boundary.hpp"
#include "pg/column_upsert.hpp"
#include "pg/jsonb_tokens.hpp"
#include "pg/spi_plan.hpp"

namespace plane::pg {

namespace {

class PgWritebackStore final : public plane::WritebackStore {
 public:
  explicit PgWritebackStore(std::string slug) : slug_(std::move(slug)) {}

  plane::WritebackPolicy load_policy() override {
    plane::WritebackPolicy p;
    in_transaction([&]() noexcept {
      Oid types[1] = {TEXTOID};
      Datum values[1] = {CStringGetTextDatum(slug_.c_str())};
      exec_sql(
          "SELECT writeback_policy = 'enabled', coalesce(conflict_policy, '') "
          "FROM work_plane.installations WHERE workspace_slug = $1",
          1, types, values, nullptr, true, SPI_OK_SELECT, 1);
      if (SPI_processed == 0) return;
      bool isnull = false;
      p.enabled = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
      char* cp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
      cpp_step([&] { p.conflict_policy = cp != nullptr ? cp : ""; });
    });
    return p;
  }

  std::vector<plane::WritebackRequest> load_pending(int limit) override {
    // Rows as read: the patch flattened from jsonb (one route from jsonb into C++), built once the
    // transaction is over.
    struct Row {
      long long id;
      int attempts;
      std::string op, plane_id, project_id, base;
      JsonbTokens patch;
    };
    std::vector<Row> rows;
    MemoryContext memory = nullptr;
    pg_call([&]() noexcept {
      // NOLINTNEXTLINE(bugprone-implicit-widening-of-multiplication-result): Postgres's macro
      memory = AllocSetContextCreate(TopMemoryContext, "plane_connector writeback", ALLOCSET_SMALL_SIZES);
    });
    struct Release {
      MemoryContext cxt;
      ~Release() { MemoryContextDelete(cxt); }
    } release{memory};
    in_transaction([&]() noexcept {
      Oid types[2] = {TEXTOID, INT4OID};
      Datum values[2] = {CStringGetTextDatum(slug_.c_str()), Int32GetDatum(limit)};
      exec_sql(
          "SELECT id, op, coalesce(plane_id, ''), project_plane_id, patch, "
          "coalesce(pg_catalog.to_json(base_updated_at) #>> '{}', ''), attempts "
          "FROM work_plane.pending_changes "
          "WHERE workspace_slug = $1 AND status = 'pending' ORDER BY id LIMIT $2",
          2, types, values, nullptr, true, SPI_OK_SELECT);
      for (uint64 i = 0; i < SPI_processed; ++i) {
        HeapTuple t = SPI_tuptable->vals[i];
        TupleDesc d = SPI_tuptable->tupdesc;
        bool isnull = false;
        const long long id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
        char* op = SPI_getvalue(t, d, 2);
        char* plane_id = SPI_getvalue(t, d, 3);
        char* project = SPI_getvalue(t, d, 4);
        Datum patch = SPI_getbinval(t, d, 5, &isnull);
        char* base = SPI_getvalue(t, d, 6);
        const int attempts = DatumGetInt32(SPI_getbinval(t, d, 7, &isnull));
        MemoryContext caller = MemoryContextSwitchTo(memory);
        const JsonbTokens tokens = flatten_jsonb(DatumGetJsonbPCopy(patch));  // patch is NOT NULL
        MemoryContextSwitchTo(caller);
        cpp_step([&] { rows.push_back(Row{id, attempts, op, plane_id, project, base, tokens}); });
      }
    });
    std::vector<plane::WritebackRequest> out;
    for (auto& r : rows) {
      plane::WritebackRequest c;
      c.id = r.id;
      c.attempts = r.attempts;
      c.op = r.op;
      c.plane_id = r.plane_id;
      c.project_id = r.project_id;
      c.patch = plane::json_from_tokens(r.patch.tokens, r.patch.count, plane::kMaxJsonDepth);
      if (!r.base.empty()) c.base_updated_at = r.base;
      out.push_back(std::move(c));
    }
    return out;
  }

  // The change's status, the mirror row from Plane's answer (if any), the item's needs_sync flag,
  // and one audit row.
  void record(const plane::WritebackRequest& change, const plane::ChangeRecord& record) override {
    ColumnRows columns(plane::MirrorTable::Items);
    if (record.mirror_row.is_object()) columns.add(record.mirror_row);
    const std::string details = record.details.dump();
    const std::string error = plane::truncate_utf8(record.error, 2000);
    const char* status = plane::change_status_name(record.status);
    in_transaction([&]() noexcept {
      if (!columns.empty()) columns.upsert(slug_.c_str(), plane::ChangeSource::Writeback);
      Oid types[9] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
      Datum values[9] = {Int64GetDatum(change.id), CStringGetTextDatum(status),
                         CStringGetTextDatum(record.plane_id.c_str()),
                         CStringGetTextDatum(record.plane_updated_at.c_str()),
                         CStringGetTextDatum(error.c_str()),
                         Int32GetDatum(static_cast<int32>(record.http_status)),
                         CStringGetTextDatum(slug_.c_str()), CStringGetTextDatum(record.action.c_str()),
                         CStringGetTextDatum(details.c_str())};
      const char nulls[9] = {' ', ' ', ' ', ' ', ' ', record.http_status == 0 ? 'n' : ' ', ' ', ' ', ' '};
      exec_sql(
          "WITH c AS (UPDATE work_plane.pending_changes SET status = $2, "
          "  plane_id = coalesce(plane_id, nullif($3, '')), "
          "  plane_updated_at = coalesce(nullif($4, '')::timestamptz, plane_updated_at), "
          "  last_error = nullif($5, ''), plane_response_status = $6, attempts = attempts + 1, "
          "  dropped = CASE WHEN $2 = 'partial' THEN $9::jsonb -> 'dropped' END, "
          "  resolved_at = CASE WHEN $2 = 'pending' THEN NULL ELSE pg_catalog.now() END "
          "  WHERE id = $1 RETURNING plane_id), "
          "i AS (UPDATE work_plane.items it SET needs_sync = EXISTS (SELECT 1 FROM work_plane.pending_changes p "
          "  WHERE p.workspace_slug = $7 AND p.plane_id = it.plane_id AND p.status = 'pending' AND p.id <> $1) "
          "  WHERE it.workspace_slug = $7 AND it.plane_id IN (SELECT plane_id FROM c) RETURNING 1) "
          "INSERT INTO ops.run_events (source, workspace_slug, action, plane_response_status, details) "
          "VALUES ('plane', $7, $8, $6, $9::jsonb OPERATOR(pg_catalog.||) "
          "pg_catalog.jsonb_build_object('status', $2, 'error', nullif($5, '')))",
          9, types, values, nulls, false, SPI_OK_INSERT);
    });
  }

 private:
  std::string slug_;
};

}  // namespace

plane::WritebackSummary run_writeback(const std::string& slug, plane::PlaneClient& client) {
  PgWritebackStore store(slug);
  plane::WritebackEngine engine(client, store);
  return engine.run();
}

}  // namespace plane::pg
