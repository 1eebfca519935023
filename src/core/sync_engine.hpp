#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/plane_client.hpp"

namespace plane {

enum class MirrorTable { Projects, Items, States, Labels, Pages };

struct SyncProgress {
  std::string phase;        // "projects", "states", "labels", "cycles", "modules", "work_items", "pages", "reconcile"
  long pages_done = 0;
  long rows_done = 0;
  long rows_expected = -1;  // from the envelopes' total_results; -1 while unknown
};

// What the mirror remembers about one resource between runs (work_plane.events_cursor).
struct ResourceState {
  std::string cursor;                        // position of an interrupted backfill, "" if none
  std::optional<std::int64_t> watermark_us;  // incremental scans stop below this minus the overlap
  bool available = true;                     // false: the server has no such API (pages, self-hosted)
};

// The rows a complete listing covers, for gone-marking: the whole table (project_id nullopt), the
// rows of one project, or (project_id "") the rows that belong to no project (workspace pages).
struct Scope {
  std::optional<std::string> project_id;
  std::string item_type;  // work_plane.items only: "issue", "cycle" or "module"
};

// Where mirrored rows go. The Postgres layer implements it with SPI; tests with vectors.
class MirrorSink {
 public:
  virtual ~MirrorSink() = default;
  virtual ResourceState load_state(const std::string& resource) = 0;
  // Upserts one page of mapped rows (never making a row older) and, when `resource` is not empty,
  // saves `next_cursor` for it ("" when the scan completed), with the progress, all-or-nothing.
  virtual void apply_page(MirrorTable table, const nlohmann::json& rows,
                          const std::string& resource, const std::string& next_cursor,
                          const SyncProgress& progress) = 0;
  // A scan of `resource` finished: its cursor is cleared and its watermark set to the newest
  // Plane updated_at among `scope`'s rows, capped at `scan_started_us` so that rows changed while
  // the scan ran are seen by the next incremental scan. `backfill`: it read every row
  // (last_full_sync is set).
  virtual void complete_scan(const std::string& resource, MirrorTable table, const Scope& scope,
                             std::int64_t scan_started_us, bool backfill) = 0;
  // Rows of `scope` that a complete listing did not return get gone_at; returns how many.
  virtual long mark_missing(MirrorTable table, const Scope& scope,
                            const std::vector<std::string>& seen_ids) = 0;
  // The live rows of `scope` whose ids are not in `seen_ids` (candidates, nothing is changed).
  virtual std::vector<std::string> find_missing(MirrorTable table, const Scope& scope,
                                                const std::vector<std::string>& seen_ids) = 0;
  // Marks these rows gone; returns how many were live.
  virtual long mark_gone(MirrorTable table, const std::vector<std::string>& ids) = 0;
  // Of Plane's [{"id", "updated_at"}], the ids the mirror lacks, marks gone, or holds older.
  virtual std::vector<std::string> find_stale(MirrorTable table, const nlohmann::json& versions) = 0;
  virtual void set_available(const std::string& resource, bool available) = 0;
};

struct SyncOptions {
  bool full = false;             // rescan everything from the first page (sync_now(full => true))
  bool reconcile = false;        // list ids to find deletes and rows missed by incremental scans
  bool pages = true;             // try Plane's pages API (Cloud only)
  std::int64_t now_us = 0;       // when this run started (watermark cap)
  std::int64_t overlap_ms = 5 * 60 * 1000;  // incremental scans re-read this much before the watermark
  int max_refetch = 200;         // stale rows fetched one by one; beyond that, a project rescan
};

struct SyncSummary {
  long projects = 0, work_items = 0, cycles = 0, modules = 0, states = 0, labels = 0, pages = 0;
  long list_pages = 0;           // list pages fetched
  long gone = 0;                 // rows newly marked gone
  long refetched = 0;            // rows fetched one by one after reconciliation
  long incremental_projects = 0, backfill_projects = 0;
  bool pages_available = true;
  ClientStats http;
};

// One sync of one workspace: projects; per live project its states, labels, cycles, modules
// (small lists, read whole) and work items (backfill oldest-first with a cursor saved per page,
// then incremental newest-first down to the watermark); pages where the server has them; and,
// when asked, a reconciliation that lists ids to mark deleted/archived rows gone.
class SyncEngine {
 public:
  SyncEngine(PlaneClient& client, MirrorSink& sink, SyncOptions options = {})
      : client_(client), sink_(sink), options_(options) {}
  SyncSummary run();

 private:
  using Mapper = std::function<nlohmann::json(const nlohmann::json&)>;
  // Reads every page of each path in `paths` into `table`, then marks rows of `scope` that none
  // returned as gone. Returns false if the first path answered 404 and `optional` is set.
  bool sync_whole_list(const std::vector<std::string>& paths, MirrorTable table, const Scope& scope,
                       const Mapper& mapper, long& counter, bool optional);
  void sync_projects(std::vector<std::string>& live_project_ids);
  void sync_work_items(const std::string& project_id);
  // Returns true when the scan started at the first page (it then also marked gone rows).
  bool backfill_work_items(const std::string& project_id, std::string cursor);
  void incremental_work_items(const std::string& project_id, std::int64_t watermark_us);
  void reconcile_work_items(const std::string& project_id);
  // Rows missing from one offset-paged listing may only have been skipped by a concurrent delete
  // shifting the pages: each candidate is confirmed gone (404) or refreshed before it is marked.
  void settle_missing_work_items(const std::string& project_id, const std::vector<std::string>& seen);
  void sync_pages(const std::vector<std::string>& live_project_ids);
  void note_total(const ListPage& page);

  PlaneClient& client_;
  MirrorSink& sink_;
  SyncOptions options_;
  SyncProgress progress_;
  SyncSummary summary_;
};

// Resource names used in work_plane.events_cursor.
std::string work_items_resource(const std::string& project_id);

}  // namespace plane
