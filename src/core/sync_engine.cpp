#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/sync_engine.hpp"

#include "core/errors.hpp"
#include "core/mapping.hpp"

namespace plane {

using nlohmann::json;

std::string work_items_resource(const std::string& project_id) { return "work_items:" + project_id; }

SyncSummary SyncEngine::run() {
  progress_ = SyncProgress{};
  summary_ = SyncSummary{};
  std::vector<std::string> live_projects;
  sync_projects(live_projects);
  progress_.phase = "work_items";
  for (const auto& project_id : live_projects) sync_work_items(project_id);
  progress_.phase = "done";
  summary_.http = client_.stats();
  return summary_;
}

void SyncEngine::sync_projects(std::vector<std::string>& live_project_ids) {
  // The project list is small: it is always read whole, so no cursor is kept for it.
  progress_.phase = "projects";
  std::string cursor;
  bool first = true;
  for (;;) {
    ListPage page = client_.list_page("projects/", {{"order_by", "created_at"}}, cursor);
    if (first && page.total_results) {
      progress_.rows_expected = std::max(0L, progress_.rows_expected) + *page.total_results;
    }
    first = false;
    json rows = json::array();
    for (const auto& p : page.results) {
      json row = map_project(p);
      // Plane lists archived projects too; their work items are hidden from the API (§1).
      if (row["archived_at"].is_null()) live_project_ids.push_back(row["plane_id"].get<std::string>());
      rows.push_back(std::move(row));
    }
    ++progress_.pages_done;
    progress_.rows_done += static_cast<long>(rows.size());
    summary_.projects += static_cast<long>(rows.size());
    ++summary_.pages;
    sink_.apply_page(MirrorTable::Projects, rows, "projects", "", progress_);
    // Stop on next_page_results, never on a missing cursor (next_cursor is always a string).
    if (!page.has_next || page.bare_array) break;
    cursor = page.next_cursor;
  }
}

void SyncEngine::sync_work_items(const std::string& project_id) {
  const std::string resource = work_items_resource(project_id);
  const std::string path = "projects/" + project_id + "/work-items/";
  std::string cursor = rebase_cursor(sink_.load_cursor(resource), client_.config().per_page);
  bool first = true;
  for (;;) {
    // Oldest first: rows created during the scan land after our position instead of shifting it.
    ListPage page = client_.list_page(path, {{"order_by", "created_at"}}, cursor);
    if (first && page.total_results) {
      progress_.rows_expected = std::max(0L, progress_.rows_expected) + *page.total_results;
    }
    first = false;
    json rows = json::array();
    for (const auto& item : page.results) rows.push_back(map_work_item(item, project_id));
    ++progress_.pages_done;
    progress_.rows_done += static_cast<long>(rows.size());
    summary_.work_items += static_cast<long>(rows.size());
    ++summary_.pages;
    const bool more = page.has_next && !page.bare_array;
    sink_.apply_page(MirrorTable::Items, rows, resource, more ? page.next_cursor : "", progress_);
    if (!more) break;
    cursor = page.next_cursor;
  }
}

}  // namespace plane
