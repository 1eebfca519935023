#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/sync_engine.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/mapping.hpp"
#include "core/timestamp.hpp"

namespace plane {

using nlohmann::json;

std::string work_items_resource(const std::string& project_id) { return "work_items:" + project_id; }

namespace {

bool is_not_found(const PlaneError& e) {
  return e.kind() == ErrorKind::Http && e.http_status() == 404;
}

std::optional<std::int64_t> row_updated_us(const json& row) {
  auto it = row.find("plane_updated_at");
  if (it == row.end() || !it->is_string()) return std::nullopt;
  return parse_timestamp_micros(it->get_ref<const std::string&>());
}

}  // namespace

void SyncEngine::note_total(const ListPage& page) {
  if (page.total_results) {
    progress_.rows_expected = std::max(0L, progress_.rows_expected) + *page.total_results;
  }
}

SyncSummary SyncEngine::run() {
  progress_ = SyncProgress{};
  summary_ = SyncSummary{};
  std::vector<std::string> live_projects;
  sync_projects(live_projects);
  for (const auto& project : live_projects) {
    const std::string base = "projects/" + project + "/";
    progress_.phase = "states";
    sync_whole_list({base + "states/"}, MirrorTable::States, Scope{project, ""},
                    [&](const json& o) { return map_state(o, project); }, summary_.states, false);
    progress_.phase = "labels";
    sync_whole_list({base + "labels/"}, MirrorTable::Labels, Scope{project, ""},
                    [&](const json& o) { return map_label(o, project); }, summary_.labels, false);
    progress_.phase = "cycles";
    sync_whole_list({base + "cycles/", base + "archived-cycles/"}, MirrorTable::Items,
                    Scope{project, "cycle"}, [&](const json& o) { return map_cycle(o, project); },
                    summary_.cycles, false);
    progress_.phase = "modules";
    sync_whole_list({base + "modules/", base + "archived-modules/"}, MirrorTable::Items,
                    Scope{project, "module"}, [&](const json& o) { return map_module(o, project); },
                    summary_.modules, false);
    sync_work_items(project);
  }
  if (options_.pages) sync_pages(live_projects);
  progress_.phase = "done";
  summary_.http = client_.stats();
  return summary_;
}

bool SyncEngine::sync_whole_list(const std::vector<std::string>& paths, MirrorTable table,
                                 const Scope& scope, const Mapper& mapper, long& counter,
                                 bool optional) {
  std::vector<std::string> seen;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string cursor;
    for (;;) {
      ListPage page;
      try {
        page = client_.list_page(paths[i], {}, cursor);
      } catch (const PlaneError& e) {
        // An absent API is not an error: pages on self-hosted Plane, archived-* lists on old
        // servers. Only the first path decides whether the whole resource exists, and only a
        // first page proves absence: a 404 further on leaves the listing incomplete.
        if (is_not_found(e) && cursor.empty() && (optional || i > 0)) {
          if (i == 0) return false;
          break;
        }
        throw;
      }
      if (cursor.empty()) note_total(page);
      json rows = json::array();
      for (const auto& obj : page.results) {
        json row = mapper(obj);
        seen.push_back(row["plane_id"].get<std::string>());
        rows.push_back(std::move(row));
      }
      ++progress_.pages_done;
      ++summary_.list_pages;
      progress_.rows_done += static_cast<long>(rows.size());
      counter += static_cast<long>(rows.size());
      sink_.apply_page(table, rows, "", "", progress_);
      // Stop on next_page_results, never on a missing cursor (next_cursor is always a string).
      if (!page.has_next || page.bare_array) break;
      cursor = page.next_cursor;
    }
  }
  // The listing completed: whatever it did not return is gone (deleted, or archived where Plane
  // hides archived rows). Small lists are read whole every run, so this costs no request.
  summary_.gone += sink_.mark_missing(table, scope, seen);
  return true;
}

void SyncEngine::sync_projects(std::vector<std::string>& live_project_ids) {
  progress_.phase = "projects";
  long count = 0;
  std::vector<std::string> all;
  sync_whole_list({"projects/"}, MirrorTable::Projects, Scope{std::nullopt, ""},
                  [&](const json& p) {
                    json row = map_project(p);
                    // Plane lists archived projects, but hides their work items (§1).
                    if (row["archived_at"].is_null()) {
                      live_project_ids.push_back(row["plane_id"].get<std::string>());
                    }
                    return row;
                  },
                  count, false);
  summary_.projects = count;
}

void SyncEngine::sync_work_items(const std::string& project_id) {
  progress_.phase = "work_items";
  const std::string resource = work_items_resource(project_id);
  const ResourceState state = sink_.load_state(resource);
  const std::string saved = rebase_cursor(state.cursor, client_.config().per_page);
  const bool backfill = !saved.empty() || options_.full || !state.watermark_us;
  bool listed_all = false;
  if (backfill) {
    // An interrupted backfill resumes where it stopped; one that ran from the first page has seen
    // every live id and settles gone rows without a separate id listing.
    listed_all = backfill_work_items(project_id, saved);
  } else {
    incremental_work_items(project_id, *state.watermark_us);
  }
  sink_.complete_scan(resource, MirrorTable::Items, Scope{project_id, "issue"}, options_.now_us,
                      backfill);
  // A backfill resumed from a cursor did not see rows edited on its earlier pages between the two
  // runs, and the watermark it leaves may be above them: reconcile versions once to catch them.
  const bool resumed = !saved.empty();
  if ((options_.reconcile || resumed) && !listed_all) reconcile_work_items(project_id);
}

bool SyncEngine::backfill_work_items(const std::string& project_id, std::string cursor) {
  ++summary_.backfill_projects;
  const std::string resource = work_items_resource(project_id);
  const std::string path = "projects/" + project_id + "/work-items/";
  const bool from_start = cursor.empty();
  std::vector<std::string> seen;
  bool first = true;
  for (;;) {
    // Oldest first: rows created during the scan land after our position instead of shifting it.
    ListPage page = client_.list_page(path, {{"order_by", "created_at"}}, cursor);
    if (first) note_total(page);
    first = false;
    json rows = json::array();
    for (auto& item : page.results) {
      json row = map_work_item(std::move(item), project_id);
      if (from_start) seen.push_back(row["plane_id"].get<std::string>());
      rows.push_back(std::move(row));
    }
    ++progress_.pages_done;
    ++summary_.list_pages;
    progress_.rows_done += static_cast<long>(rows.size());
    summary_.work_items += static_cast<long>(rows.size());
    const bool more = page.has_next && !page.bare_array;
    sink_.apply_page(MirrorTable::Items, rows, resource, more ? page.next_cursor : "", progress_);
    if (!more) break;
    cursor = page.next_cursor;
  }
  if (!from_start) return false;
  settle_missing_work_items(project_id, seen);
  return true;
}

void SyncEngine::settle_missing_work_items(const std::string& project_id,
                                           const std::vector<std::string>& seen) {
  const std::vector<std::string> missing =
      sink_.find_missing(MirrorTable::Items, Scope{project_id, "issue"}, seen);
  if (missing.empty()) return;
  const std::string path = "projects/" + project_id + "/work-items/";
  std::vector<std::string> gone;
  if (static_cast<int>(missing.size()) > options_.max_refetch) {
    // Too many to check one by one: a second id listing; gone is what both listings lacked.
    std::vector<std::string> again;
    std::string cursor;
    for (;;) {
      ListPage page = client_.list_page(path, {{"order_by", "created_at"}, {"fields", "id"}}, cursor);
      for (const auto& obj : page.results) {
        if (obj.is_object() && obj.contains("id") && obj["id"].is_string()) {
          again.push_back(obj["id"].get<std::string>());
        }
      }
      ++summary_.list_pages;
      if (!page.has_next || page.bare_array) break;
      cursor = page.next_cursor;
    }
    std::sort(again.begin(), again.end());
    for (const auto& id : missing) {
      if (!std::binary_search(again.begin(), again.end(), id)) gone.push_back(id);
    }
  } else {
    for (const auto& id : missing) {
      try {
        json item = client_.get_object(path + id + "/");
        json rows = json::array({map_work_item(item, project_id)});
        ++summary_.refetched;
        sink_.apply_page(MirrorTable::Items, rows, "", "", progress_);
      } catch (const PlaneError& e) {
        if (!is_not_found(e)) throw;
        gone.push_back(id);  // 404: deleted, or archived/draft/triage, which v1 cannot tell apart
      }
    }
  }
  if (!gone.empty()) summary_.gone += sink_.mark_gone(MirrorTable::Items, gone);
}

void SyncEngine::incremental_work_items(const std::string& project_id, std::int64_t watermark_us) {
  // Plane has no updated_at filter (§1, makeplane/plane#5326): read newest-first and stop once a
  // page reaches rows older than the watermark minus the overlap. A row that moves to the front
  // while we page is newer than the watermark we will store, so the next scan sees it.
  ++summary_.incremental_projects;
  const std::int64_t stop_below = watermark_us - options_.overlap_ms * 1000;
  const std::string path = "projects/" + project_id + "/work-items/";
  std::string cursor;
  for (;;) {
    ListPage page = client_.list_page(path, {{"order_by", "-updated_at"}}, cursor);
    json rows = json::array();
    bool reached_old = false;
    for (auto& item : page.results) {
      json row = map_work_item(std::move(item), project_id);
      if (auto t = row_updated_us(row); t && *t < stop_below) reached_old = true;
      rows.push_back(std::move(row));
    }
    ++progress_.pages_done;
    ++summary_.list_pages;
    progress_.rows_done += static_cast<long>(rows.size());
    summary_.work_items += static_cast<long>(rows.size());
    sink_.apply_page(MirrorTable::Items, rows, "", "", progress_);
    if (reached_old || !page.has_next || page.bare_array) break;
    cursor = page.next_cursor;
  }
}

void SyncEngine::reconcile_work_items(const std::string& project_id) {
  // Deletes are invisible to polling (§1 "Deleted / archived visibility"): list ids and versions
  // only, mark what Plane no longer returns as gone, and fetch what the mirror lacks or holds older.
  progress_.phase = "reconcile";
  const std::string path = "projects/" + project_id + "/work-items/";
  std::vector<std::string> seen;
  json versions = json::array();
  std::string cursor;
  for (;;) {
    ListPage page =
        client_.list_page(path, {{"order_by", "created_at"}, {"fields", "id,updated_at"}}, cursor);
    for (const auto& obj : page.results) {
      if (!obj.is_object() || !obj.contains("id") || !obj["id"].is_string()) {
        throw PlaneError(ErrorKind::Parse, "id listing returned an object without a string id");
      }
      seen.push_back(obj["id"].get<std::string>());
      versions.push_back({{"id", obj["id"]}, {"updated_at", timestamp_or_null(obj, "updated_at")}});
    }
    ++progress_.pages_done;
    ++summary_.list_pages;
    if (!page.has_next || page.bare_array) break;
    cursor = page.next_cursor;
  }
  settle_missing_work_items(project_id, seen);
  const std::vector<std::string> stale = sink_.find_stale(MirrorTable::Items, versions);
  if (stale.empty()) return;
  if (static_cast<int>(stale.size()) > options_.max_refetch) {
    backfill_work_items(project_id, "");  // cheaper as pages than one request per row
    sink_.complete_scan(work_items_resource(project_id), MirrorTable::Items,
                        Scope{project_id, "issue"}, options_.now_us, true);
    return;
  }
  for (const auto& id : stale) {
    json item;
    try {
      item = client_.get_object(path + id + "/");
    } catch (const PlaneError& e) {
      if (is_not_found(e)) continue;  // deleted or archived since it was listed
      throw;
    }
    json rows = json::array({map_work_item(item, project_id)});
    ++summary_.refetched;
    sink_.apply_page(MirrorTable::Items, rows, "", "", progress_);
  }
}

void SyncEngine::sync_pages(const std::vector<std::string>& live_project_ids) {
  progress_.phase = "pages";
  const ResourceState state = sink_.load_state("pages");
  // Self-hosted Plane has no pages API: recorded once, then only re-checked by a full sync.
  if (!state.available && !options_.full) {
    summary_.pages_available = false;
    return;
  }
  const bool available = sync_whole_list({"pages/"}, MirrorTable::Pages, Scope{std::string(), ""},
                                         [](const json& o) { return map_page(o, ""); },
                                         summary_.pages, true);
  if (available != state.available) sink_.set_available("pages", available);
  summary_.pages_available = available;
  if (!available) return;
  for (const auto& project : live_project_ids) {
    sync_whole_list({"projects/" + project + "/pages/"}, MirrorTable::Pages, Scope{project, ""},
                    [&](const json& o) { return map_page(o, project); }, summary_.pages, true);
  }
}

}  // namespace plane
