#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/mapping.hpp"
#include "core/mirror_rows.hpp"
#include "core/mirror_schema.hpp"
#include "core/plane_client.hpp"

namespace plane {

struct SyncProgress {
  std::string phase;        // "projects", "states", "labels", "cycles", "modules", "work_items", "refresh", "pages", "reconcile"
  long pages_done = 0;
  long rows_done = 0;
  long rows_expected = -1;  // from the envelopes' total_results; -1 while unknown
};

// What the mirror remembers about one resource between runs (work_plane.events_cursor).
struct ResourceState {
  std::string cursor;                        // position of an interrupted scan, "" if none
  std::optional<std::int64_t> watermark_us;  // incremental scans stop below this minus the overlap
  bool available = true;                     // false: the server refused or lacks this API
  std::optional<std::int64_t> last_full_us;  // when a scan last read every row
};

// Whether the key can read a project's lists. Plane lists every public project to everyone, but
// answers 403 on each list of a project the key's user is not a member of (no admin bypass), and
// on the lists of a project deleted meanwhile.
enum class ProjectAccess {
  Readable,
  NotMember,  // listed with is_member false: its lists are not asked for (re-checked by a full sync)
  Forbidden,  // its lists answered 403: not asked again until a full sync
};
const char* project_access_name(ProjectAccess access);  // "readable", "not_member", "forbidden"

// What the engine learns about a server once and keeps per installation.
struct ServerProfile {
  std::string work_items_segment;  // "work-items", or "issues" on Community Edition before v1.1.0; "" unknown
  int page_size = 0;               // the largest per_page the server serves; 0 unknown
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
  // Upserts one page of mapped rows (never making a row older; a row whose content changed while
  // Plane's updated_at did not is applied) and, when `resource` is not empty, saves `next_cursor`
  // for it ("" when the scan completed), with the progress, all-or-nothing.
  virtual void apply_page(MirrorTable table, const MirrorRows& rows, const std::string& resource,
                          const std::string& next_cursor, const SyncProgress& progress,
                          ChangeSource source) = 0;
  // A scan of `resource` finished: its cursor is cleared and its watermark set to the newest
  // Plane updated_at among `scope`'s rows, capped at `scan_started_us` so that rows changed while
  // the scan ran are seen by the next incremental scan. `backfill`: it read every row
  // (last_full_sync is set).
  virtual void complete_scan(const std::string& resource, MirrorTable table, const Scope& scope,
                             std::int64_t scan_started_us, bool backfill) = 0;
  // A refresh scan of `resource` read every row: its cursor is cleared, last_full_sync set.
  virtual void complete_refresh(const std::string& resource) = 0;
  // The live rows of `scope` whose ids are not in `seen_ids` (candidates, nothing is changed).
  virtual std::vector<std::string> find_missing(MirrorTable table, const Scope& scope,
                                                const std::vector<std::string>& seen_ids) = 0;
  // Marks these rows gone (a project takes the rows under it along); returns how many were live.
  virtual long mark_gone(MirrorTable table, const std::vector<std::string>& ids) = 0;
  // Of Plane's [{"id", "updated_at"}], the ids the mirror lacks, marks gone, or holds older.
  virtual std::vector<std::string> find_stale(MirrorTable table, const nlohmann::json& versions) = 0;
  // Of Plane's page versions, the ids whose content the mirror lacks: stale as above, or never
  // fetched (content_text NULL).
  virtual std::vector<std::string> find_without_content(const nlohmann::json& versions) = 0;
  // Records whether the server serves `resource`, and why not ("HTTP 403: …"; "" when it does).
  virtual void set_available(const std::string& resource, bool available, const std::string& reason) = 0;
  virtual std::map<std::string, ProjectAccess> load_project_access() = 0;
  virtual void set_project_access(const std::string& project_id, ProjectAccess access,
                                  const std::string& reason) = 0;
  virtual ServerProfile load_profile() = 0;
  virtual void save_profile(const ServerProfile& profile) = 0;
  // The work items of a cycle (a work item is in one cycle at most) or of a module (in any number)
  // of project `project_id`, as Plane lists them now: the items' cycle_plane_id / module_ids follow,
  // rows that did not change are left alone. Cycles and modules hold their own project's work items
  // only, so only that project's rows need to be looked at.
  virtual void set_cycle_members(const std::string& project_id, const std::string& cycle_id,
                                 const std::vector<std::string>& item_ids) = 0;
  virtual void set_module_members(const std::string& project_id, const std::string& module_id,
                                  const std::vector<std::string>& item_ids) = 0;
};

struct SyncOptions {
  bool full = false;             // rescan everything from the first page (sync_now(full => true))
  bool reconcile = false;        // list ids to find deletes and rows missed by incremental scans
  bool pages = true;             // try Plane's pages API (Cloud only)
  std::int64_t now_us = 0;       // when this run started (watermark cap)
  std::int64_t overlap_ms = 5 * 60 * 1000;  // incremental scans re-read this much before the watermark
  int max_refetch = 200;         // rows confirmed or fetched one by one; beyond that, a listing
  // Drift refresh: every work item is re-read once per refresh_interval (Plane changes state, dates
  // and parent in bulk without moving updated_at or sending a webhook), at most refresh_pages list
  // pages per run, so that the refresh takes a bounded share of the key's request budget.
  std::int64_t refresh_interval_ms = 24LL * 3600 * 1000;  // 0: never
  int refresh_pages = 10;
  CalendarZones* zones = nullptr;  // reads cycle calendar days in the project's zone
  // Cycle and module membership of work items: read for the cycles that are current, upcoming or
  // ended less than membership_recent_ms ago and the modules not completed or cancelled (all of
  // them on a full sync), one id listing each.
  bool memberships = true;
  std::int64_t membership_recent_ms = 14LL * 24 * 3600 * 1000;
  // Page lists do not carry a page's content: the detail is fetched for pages that are new or
  // changed (updated_at) or whose content was never fetched, at most content_fetches per run (the
  // rest on later runs); pages unchanged are not written again.
  int content_fetches = 50;
};

struct UnreadableProject {
  std::string id;
  std::string name;
  ProjectAccess access;
};

struct SyncSummary {
  long projects = 0, work_items = 0, cycles = 0, modules = 0, states = 0, labels = 0, pages = 0;
  long list_pages = 0;           // list pages fetched
  long gone = 0;                 // rows newly marked gone
  long refetched = 0;            // rows fetched one by one (reconciliation, confirmations)
  long refreshed = 0;            // rows re-read by the drift refresh
  long memberships = 0;          // cycles and modules whose work items were listed
  long relisted = 0;             // small lists read again: their pages skipped rows (tied sort keys)
  long page_details = 0;         // pages fetched one by one for their content
  long pages_waiting = 0;        // pages whose content waits for a later run
  long incremental_projects = 0, backfill_projects = 0;
  bool pages_available = true;
  std::vector<UnreadableProject> unreadable_projects;
  std::map<std::string, std::string> unavailable;  // resource -> why ("HTTP 403: …")
  int page_size = 0;
  std::string work_items_segment;
  ClientStats http;
};

// One sync of one workspace: projects; per readable project its states, labels, cycles, modules
// (small lists, read whole) and work items (backfill oldest-first with a cursor saved per page,
// then incremental newest-first down to the watermark, and a slice of the drift refresh); pages
// where the server has them; and, when asked, a reconciliation that lists ids to mark
// deleted/archived rows gone. Plane's refusals are part of the mirror, not failures: a project the
// key cannot read and an optional resource the server refuses are recorded and skipped. Only a
// refusal of the workspace-level project list is a credential failure.
class SyncEngine {
 public:
  SyncEngine(PlaneClient& client, MirrorSink& sink, SyncOptions options = {})
      : client_(client), sink_(sink), options_(options) {}
  SyncSummary run();

 private:
  using Mapper = std::function<nlohmann::json(const nlohmann::json&)>;
  struct Listing {
    std::vector<std::string> paths;  // read one after the other (a list and its archived twin)
    std::vector<std::string> optional_resources;  // per path: "" required, else the resource name
    MirrorTable table;
    Scope scope;
    Mapper mapper;
    std::function<std::string(const std::string& id)> detail_path;  // confirms a missing row
    bool fetch_content = false;  // pages: objects without description_html get their detail
  };
  // Pages: the rows of a list page as they should be written (see SyncOptions::content_fetches).
  nlohmann::json with_content(const Listing& listing, nlohmann::json rows);
  // Reads every page of each path into the table, then settles the rows of the scope that none
  // returned: confirmed gone, or refreshed, before anything is marked (not when one of the paths
  // was refused or skipped as unavailable). Returns the rows read.
  long sync_whole_list(const Listing& listing);
  // Reads every page of path `i` of the listing into its table, each row once, adding its ids
  // to `seen` and the rows written to `count`; false when the path is an optional resource
  // refused on its first page (recorded).
  bool read_list_path(const Listing& listing, std::size_t i, std::vector<std::string>& seen, long& count);
  // Writes the rows of a list page not listed before (`listed`); returns how many.
  long write_list_page(const Listing& listing, const ListPage& page, bool first_pass,
                       std::set<std::string>& listed, std::vector<std::string>& seen);
  // The rows of the scope missing from `seen`: each confirmed by a detail GET (404 or 403: gone;
  // 200: upserted), or, past max_refetch candidates, by a second listing (gone: missing twice).
  void settle_missing(const Listing& listing, const std::vector<std::string>& seen);
  // Every id of the listing's paths (fields=id); nullopt when one of its optional paths is refused
  // or unavailable (the listing is then incomplete).
  std::optional<std::vector<std::string>> list_ids(const Listing& listing);
  // All pages of one id listing from `fetch(cursor)`; nullopt when `resource` (an optional
  // resource; "" for a required list) is unavailable or refused on its first page (recorded).
  std::optional<std::vector<std::string>> read_ids(const std::function<ListPage(const std::string& cursor)>& fetch,
                                                   const std::string& resource);
  // A first page of an optional resource refused with 400, 403 or 404: recorded, not an error.
  bool refused_optional(const std::string& resource, const PlaneError& e);
  bool optional_unavailable(const std::string& resource);
  void note_available(const std::string& resource);

  void sync_projects(std::vector<nlohmann::json>& projects);
  void sync_project(const std::string& project_id, const std::string& zone);
  // The work items of the project's current cycles and open modules (see SyncOptions), as
  // listed: read before the work items, so that the rows a sync inserts carry their membership
  // from the start (MirrorColumn::insert_only), and applied to the mirror after them.
  struct Memberships {
    std::vector<std::pair<std::string, std::vector<std::string>>> cycles, modules;  // id, items
    std::map<std::string, std::string> cycle_of;                  // item -> cycle
    std::map<std::string, std::vector<std::string>> modules_of;  // item -> modules
  };
  Memberships list_memberships(const std::string& project_id, const std::vector<nlohmann::json>& cycles,
                               const std::vector<nlohmann::json>& modules);
  void apply_memberships(const std::string& project_id, const Memberships& members);
  // map_work_item, plus the membership a new row starts with.
  nlohmann::json item_row(nlohmann::json item, const std::string& project_id) const;
  void add_membership(nlohmann::json& row) const;
  // The rows of a work-item list page, mapped from whichever form it came in.
  MirrorRows item_rows(ListPage& page, const std::string& project_id) const;
  void sync_work_items(const std::string& project_id);
  // The project's work item list, learning the route on the first page (see PlaneClient).
  ListPage list_work_items(const std::string& project_id, const QueryParams& query,
                           const std::string& cursor, ListForm form = ListForm::Json);
  // Returns true when the scan started at the first page (it then also settled gone rows).
  bool backfill_work_items(const std::string& project_id, std::string cursor);
  void incremental_work_items(const std::string& project_id, std::int64_t watermark_us);
  void refresh_work_items(const std::string& project_id);
  void reconcile_work_items(const std::string& project_id);
  void sync_pages(const std::vector<std::string>& readable_projects);
  void note_total(const ListPage& page);
  Listing work_item_listing(const std::string& project_id);

  PlaneClient& client_;
  MirrorSink& sink_;
  SyncOptions options_;
  SyncProgress progress_;
  SyncSummary summary_;
  std::map<std::string, ResourceState> optional_states_;
  int refresh_pages_left_ = 0;
  int content_fetches_left_ = 0;
  Memberships members_;  // of the project being synced
};

// Resource names used in work_plane.events_cursor.
std::string work_items_resource(const std::string& project_id);
std::string refresh_resource(const std::string& project_id);

}  // namespace plane
