#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/sync_engine.hpp"

#include <algorithm>
#include <set>

#include "core/errors.hpp"
#include "core/mapping.hpp"
#include "core/timestamp.hpp"

namespace plane {

using nlohmann::json;

std::string work_items_resource(const std::string& project_id) { return "work_items:" + project_id; }
std::string refresh_resource(const std::string& project_id) { return "refresh:" + project_id; }

const char* project_access_name(ProjectAccess access) {
  switch (access) {
    case ProjectAccess::Readable: return "readable";
    case ProjectAccess::NotMember: return "not_member";
    case ProjectAccess::Forbidden: return "forbidden";
  }
  return "readable";
}

namespace {

bool is_not_found(const PlaneError& e) { return e.kind() == ErrorKind::Http && e.http_status() == 404; }
bool is_forbidden(const PlaneError& e) { return e.kind() == ErrorKind::Forbidden; }

std::optional<std::int64_t> row_updated_us(const json& row) {
  auto it = row.find("plane_updated_at");
  if (it == row.end() || !it->is_string()) return std::nullopt;
  return parse_timestamp_micros(it->get_ref<const std::string&>());
}

std::string string_member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string refusal_reason(const PlaneError& e) { return e.what(); }

// Optional resources: the server may lack them (404: pages on Community Edition, archived lists on
// old servers) or refuse them (403: a missing OAuth scope or plan; 400: a feature off).
constexpr const char* kWorkspacePages = "pages";
constexpr const char* kProjectPages = "project_pages";
constexpr const char* kArchivedCycles = "archived_cycles";
constexpr const char* kArchivedModules = "archived_modules";
constexpr const char* kCycleItems = "cycle_issues";
constexpr const char* kModuleItems = "module_issues";
// Readings of one small list in a run: the first, and up to two more when its pages held fewer
// distinct rows than its total (offset paging over tied sort keys skips rows).
constexpr int kMaxListPasses = 3;

}  // namespace

void SyncEngine::note_total(const ListPage& page) {
  if (page.total_results) {
    progress_.rows_expected = std::max(0L, progress_.rows_expected) + *page.total_results;
  }
}

SyncSummary SyncEngine::run() {
  progress_ = SyncProgress{};
  summary_ = SyncSummary{};
  refresh_pages_left_ = options_.refresh_pages;
  content_fetches_left_ = options_.content_fetches;
  const ServerProfile profile = sink_.load_profile();
  if (!profile.work_items_segment.empty()) client_.use_work_items_segment(profile.work_items_segment);

  std::vector<json> projects;
  sync_projects(projects);
  const std::map<std::string, ProjectAccess> stored = sink_.load_project_access();
  std::vector<std::string> readable;
  for (const json& row : projects) {
    const std::string id = row["plane_id"].get<std::string>();
    const std::string name = string_member(row, "name");
    auto before_it = stored.find(id);
    const ProjectAccess before = before_it == stored.end() ? ProjectAccess::Readable : before_it->second;
    const bool not_member = row["is_member"].is_boolean() && !row["is_member"].get<bool>();
    ProjectAccess access = ProjectAccess::Readable;
    std::string reason;
    if (!options_.full && not_member) {
      access = ProjectAccess::NotMember;
      reason = "the key's user is not a member of this project";
    } else if (!options_.full && before == ProjectAccess::Forbidden) {
      access = ProjectAccess::Forbidden;
      reason = "its lists answered 403 (re-checked by a full sync)";
    } else {
      try {
        sync_project(id, string_member(row, "timezone"));
      } catch (const PlaneError& e) {
        if (!is_forbidden(e)) throw;
        // Not a credential failure: this project's lists are closed to the key (not a member, or
        // the project was deleted meanwhile). Its rows stay as they are; the run goes on.
        access = not_member ? ProjectAccess::NotMember : ProjectAccess::Forbidden;
        reason = refusal_reason(e);
      }
    }
    if (access == ProjectAccess::Readable) {
      readable.push_back(id);
    } else {
      summary_.unreadable_projects.push_back({id, name, access});
    }
    if (access != before || before_it == stored.end()) sink_.set_project_access(id, access, reason);
  }
  if (options_.pages) sync_pages(readable);

  ServerProfile learned;
  learned.work_items_segment = client_.work_items_segment();
  learned.page_size = client_.per_page();
  if (learned.work_items_segment != profile.work_items_segment || learned.page_size != profile.page_size) {
    sink_.save_profile(learned);
  }
  summary_.page_size = learned.page_size;
  summary_.work_items_segment = learned.work_items_segment;
  progress_.phase = "done";
  summary_.http = client_.stats();
  return summary_;
}

void SyncEngine::sync_project(const std::string& project, const std::string& zone) {
  const std::string base = "projects/" + project + "/";
  auto detail = [base](const char* list) {
    return [base, list](const std::string& id) { return base + list + id + "/"; };
  };
  progress_.phase = "states";
  summary_.states += sync_whole_list({{base + "states/"}, {""}, MirrorTable::States, Scope{project, ""},
                                      [&](const json& o) { return map_state(o, project); },
                                      detail("states/")});
  progress_.phase = "labels";
  summary_.labels += sync_whole_list({{base + "labels/"}, {""}, MirrorTable::Labels, Scope{project, ""},
                                      [&](const json& o) { return map_label(o, project); },
                                      detail("labels/")});
  progress_.phase = "cycles";
  std::vector<json> cycles;
  summary_.cycles += sync_whole_list({{base + "cycles/", base + "archived-cycles/"},
                                      {"", kArchivedCycles},
                                      MirrorTable::Items,
                                      Scope{project, "cycle"},
                                      [&](const json& o) {
                                        json row = map_cycle(o, project, options_.zones, zone);
                                        cycles.push_back({{"id", row["plane_id"]}, {"ends_at", row["ends_at"]},
                                                          {"archived", !row["archived_at"].is_null()}});
                                        return row;
                                      },
                                      detail("cycles/")});
  progress_.phase = "modules";
  std::vector<json> modules;
  summary_.modules += sync_whole_list({{base + "modules/", base + "archived-modules/"},
                                       {"", kArchivedModules},
                                       MirrorTable::Items,
                                       Scope{project, "module"},
                                       [&](const json& o) {
                                         json row = map_module(o, project);
                                         modules.push_back({{"id", row["plane_id"]}, {"status", row["status"]},
                                                            {"archived", !row["archived_at"].is_null()}});
                                         return row;
                                       },
                                       detail("modules/")});
  members_ = options_.memberships ? list_memberships(project, cycles, modules) : Memberships{};
  sync_work_items(project);
  if (options_.memberships) apply_memberships(project, members_);
  members_ = Memberships{};
}

SyncEngine::Memberships SyncEngine::list_memberships(const std::string& project_id, const std::vector<json>& cycles,
                                                     const std::vector<json>& modules) {
  progress_.phase = "memberships";
  Memberships members;
  const std::string base = "projects/" + project_id + "/";
  auto list_members = [&](const std::string& path, const char* resource) {
    return read_ids([&](const std::string& cursor) { return client_.list_page(path, {{"fields", "id"}}, cursor); },
                    resource);
  };
  for (const json& c : cycles) {
    // A cycle long over rarely changes: its members are read again by a full sync.
    if (!options_.full) {
      if (c["archived"].get<bool>()) continue;
      const json& ends = c["ends_at"];
      const std::optional<std::int64_t> ends_us =
          ends.is_string() ? parse_timestamp_micros(ends.get_ref<const std::string&>()) : std::nullopt;
      if (ends_us && *ends_us < options_.now_us - options_.membership_recent_ms * 1000) continue;
    }
    const std::string id = c["id"].get<std::string>();
    std::optional<std::vector<std::string>> items = list_members(base + "cycles/" + id + "/cycle-issues/", kCycleItems);
    if (!items) break;
    for (const std::string& item : *items) members.cycle_of[item] = id;
    members.cycles.emplace_back(id, std::move(*items));
  }
  for (const json& m : modules) {
    if (!options_.full) {
      const json& status = m["status"];
      const bool closed = status.is_string() && (status == "completed" || status == "cancelled");
      if (closed || m["archived"].get<bool>()) continue;
    }
    const std::string id = m["id"].get<std::string>();
    std::optional<std::vector<std::string>> items = list_members(base + "modules/" + id + "/module-issues/", kModuleItems);
    if (!items) break;
    for (const std::string& item : *items) members.modules_of[item].push_back(id);
    members.modules.emplace_back(id, std::move(*items));
  }
  return members;
}

void SyncEngine::apply_memberships(const std::string& project_id, const Memberships& members) {
  progress_.phase = "memberships";
  for (const auto& [cycle, items] : members.cycles) {
    sink_.set_cycle_members(project_id, cycle, items);
    ++summary_.memberships;
  }
  for (const auto& [module, items] : members.modules) {
    sink_.set_module_members(project_id, module, items);
    ++summary_.memberships;
  }
}

json SyncEngine::item_row(json item, const std::string& project_id) const {
  json row = map_work_item(std::move(item), project_id);
  add_membership(row);
  return row;
}

void SyncEngine::add_membership(json& row) const {
  const auto plane_id = row.find("plane_id");
  if (plane_id == row.end() || !plane_id->is_string()) return;
  const std::string& id = plane_id->get_ref<const std::string&>();
  if (auto c = members_.cycle_of.find(id); c != members_.cycle_of.end()) row["cycle_plane_id"] = c->second;
  if (auto m = members_.modules_of.find(id); m != members_.modules_of.end()) {
    json ids = m->second;
    std::sort(ids.begin(), ids.end());
    row["module_ids"] = std::move(ids);
  }
}

MirrorRows SyncEngine::item_rows(ListPage& page, const std::string& project_id) const {
  MirrorRows rows;
  for (JsonElement item : page.parsed_results) {
    json columns = work_item_columns(item, project_id);
    add_membership(columns);
    rows.add(std::move(columns), item, page.parsed);
  }
  for (auto& item : page.results) rows.add(item_row(std::move(item), project_id));
  return rows;
}

bool SyncEngine::optional_unavailable(const std::string& resource) {
  auto it = optional_states_.find(resource);
  if (it == optional_states_.end()) it = optional_states_.emplace(resource, sink_.load_state(resource)).first;
  if (it->second.available || options_.full) return false;
  summary_.unavailable.emplace(resource, "refused or absent earlier (re-checked by a full sync)");
  return true;
}

bool SyncEngine::refused_optional(const std::string& resource, const PlaneError& e) {
  const long status = e.http_status();
  const bool refused = (e.kind() == ErrorKind::Http && (status == 404 || status == 400)) || is_forbidden(e);
  if (!refused) return false;
  const std::string reason = refusal_reason(e);
  summary_.unavailable[resource] = reason;
  ResourceState& state = optional_states_[resource];
  if (state.available) {
    sink_.set_available(resource, false, reason);  // recorded once, not asked again until full
    state.available = false;
  }
  return true;
}

void SyncEngine::note_available(const std::string& resource) {
  auto it = optional_states_.find(resource);
  if (it != optional_states_.end() && !it->second.available) {
    sink_.set_available(resource, true, "");
    it->second.available = true;
  }
}

long SyncEngine::sync_whole_list(const Listing& listing) {
  std::vector<std::string> seen;
  long count = 0;
  // Without its main list nothing can be judged gone; nor without a secondary list (archived
  // rows): Plane's detail GET hides archived cycles and modules as their main list does, so a
  // detail 404 cannot tell an archived row from a deleted one. Then nothing is settled.
  bool complete = true;
  for (std::size_t i = 0; i < listing.paths.size(); ++i) {
    const std::string& optional = listing.optional_resources[i];
    const bool skipped = !optional.empty() && optional_unavailable(optional);
    if (skipped || !read_list_path(listing, i, seen, count)) {
      if (i == 0) return count;
      complete = false;
    }
  }
  if (complete) settle_missing(listing, seen);
  return count;
}

bool SyncEngine::read_list_path(const Listing& listing, std::size_t i, std::vector<std::string>& seen,
                                long& count) {
  const std::string& optional = listing.optional_resources[i];
  // Offset pages over tied sort keys can repeat a row and skip another: when the pages held
  // fewer distinct rows than the list's total, it is read again (at most kMaxListPasses times)
  // and the rows not seen yet are written.
  std::set<std::string> listed;
  std::optional<long> total;
  for (int pass = 0; pass < kMaxListPasses; ++pass) {
    if (pass > 0 && (!total || static_cast<long>(listed.size()) >= *total)) break;
    if (pass > 0) ++summary_.relisted;
    std::string cursor;
    for (;;) {
      ListPage page;
      try {
        page = client_.list_page(listing.paths[i], {}, cursor);
      } catch (const PlaneError& e) {
        // Only a first page proves absence or refusal: an error further on leaves the listing
        // incomplete, and the run fails rather than judge rows gone from part of a list.
        if (pass == 0 && !optional.empty() && cursor.empty() && refused_optional(optional, e)) return false;
        throw;
      }
      if (cursor.empty() && pass == 0) {
        note_total(page);
        if (!optional.empty()) note_available(optional);
      }
      if (cursor.empty()) total = page.bare_array ? std::nullopt : page.total_results;
      count += write_list_page(listing, page, pass == 0, listed, seen);
      // Stop on next_page_results, never on a missing cursor (next_cursor is always a string).
      if (!page.has_next || page.bare_array) break;
      cursor = page.next_cursor;
    }
  }
  return true;
}

long SyncEngine::write_list_page(const Listing& listing, const ListPage& page, bool first_pass,
                                 std::set<std::string>& listed, std::vector<std::string>& seen) {
  json rows = json::array();
  for (const auto& obj : page.results) {
    json row = listing.mapper(obj);
    std::string id = row["plane_id"].get<std::string>();
    if (!listed.insert(id).second) continue;  // seen on an earlier page or pass
    seen.push_back(std::move(id));
    rows.push_back(std::move(row));
  }
  const long written = static_cast<long>(rows.size());
  ++progress_.pages_done;
  ++summary_.list_pages;
  progress_.rows_done += written;
  if (listing.fetch_content) rows = with_content(listing, std::move(rows));
  // A list page whose pages are all unchanged writes nothing; an empty list is still recorded
  // (its progress) once.
  if (!rows.empty() || (written == 0 && first_pass)) {
    sink_.apply_page(listing.table, MirrorRows(std::move(rows)), "", "", progress_, ChangeSource::Sync);
  }
  return written;
}

json SyncEngine::with_content(const Listing& listing, json rows) {
  json versions = json::array();
  for (const auto& row : rows) {
    const json& raw = row["raw"];
    if (!raw.is_object() || raw.contains("description_html")) continue;
    versions.push_back({{"id", row["plane_id"]}, {"updated_at", row["plane_updated_at"]}});
  }
  if (versions.empty()) return rows;  // the list carried the content
  std::vector<std::string> need = sink_.find_without_content(versions);
  std::sort(need.begin(), need.end());
  json out = json::array();
  for (auto& row : rows) {
    const std::string id = row["plane_id"].get<std::string>();
    if (row["raw"].contains("description_html")) {
      out.push_back(std::move(row));
      continue;
    }
    if (!std::binary_search(need.begin(), need.end(), id)) continue;  // unchanged: content kept
    if (content_fetches_left_ <= 0) {
      ++summary_.pages_waiting;
      out.push_back(std::move(row));  // listed now, its content on a later run
      continue;
    }
    --content_fetches_left_;
    try {
      json detail = listing.mapper(client_.get_object(listing.detail_path(id)));
      // A detail without content is a page without content, not one to read again next run.
      if (detail["content_text"].is_null()) detail["content_text"] = "";
      out.push_back(std::move(detail));
      ++summary_.page_details;
    } catch (const PlaneError& e) {
      if (!is_not_found(e)) throw;  // deleted since it was listed: the next listing settles it
    }
  }
  return out;
}

std::optional<std::vector<std::string>> SyncEngine::read_ids(
    const std::function<ListPage(const std::string& cursor)>& fetch, const std::string& resource) {
  if (!resource.empty() && optional_unavailable(resource)) return std::nullopt;
  std::vector<std::string> ids;
  std::string cursor;
  for (;;) {
    ListPage page;
    try {
      page = fetch(cursor);
    } catch (const PlaneError& e) {
      if (!resource.empty() && cursor.empty() && refused_optional(resource, e)) return std::nullopt;
      throw;
    }
    if (cursor.empty() && !resource.empty()) note_available(resource);
    for (const auto& obj : page.results) {
      const std::string id = obj.is_object() ? string_member(obj, "id") : std::string();
      if (!id.empty()) ids.push_back(id);
    }
    ++summary_.list_pages;
    if (!page.has_next || page.bare_array) break;
    cursor = page.next_cursor;
  }
  return ids;
}

std::optional<std::vector<std::string>> SyncEngine::list_ids(const Listing& listing) {
  std::vector<std::string> ids;
  const bool work_items = listing.table == MirrorTable::Items && listing.scope.item_type == "issue";
  for (size_t i = 0; i < listing.paths.size(); ++i) {
    const std::string& path = listing.paths[i];
    std::optional<std::vector<std::string>> part = read_ids(
        [&](const std::string& cursor) {
          return work_items ? list_work_items(*listing.scope.project_id,
                                              {{"order_by", "created_at"}, {"fields", "id"}}, cursor)
                            : client_.list_page(path, {{"fields", "id"}}, cursor);
        },
        listing.optional_resources[i]);
    // A path refused or unavailable now leaves the listing incomplete: its rows prove nothing.
    if (!part) return std::nullopt;
    ids.insert(ids.end(), part->begin(), part->end());
  }
  return ids;
}

void SyncEngine::settle_missing(const Listing& listing, const std::vector<std::string>& seen) {
  // Offset paging over rows that change, or whose sort keys tie, can skip a row that still exists:
  // absence from one listing is no proof of deletion, for any kind of row.
  const std::vector<std::string> missing = sink_.find_missing(listing.table, listing.scope, seen);
  if (missing.empty()) return;
  std::vector<std::string> gone;
  if (static_cast<int>(missing.size()) > options_.max_refetch) {
    // Too many to check one by one: a second listing; gone is what both listings lacked. If a
    // path of it was refused meanwhile, nothing is judged.
    std::optional<std::vector<std::string>> again = list_ids(listing);
    if (!again) return;
    std::sort(again->begin(), again->end());
    for (const auto& id : missing) {
      if (!std::binary_search(again->begin(), again->end(), id)) gone.push_back(id);
    }
  } else {
    for (const auto& id : missing) {
      try {
        const json obj = client_.get_object(listing.detail_path(id));
        MirrorRows rows;
        rows.add(listing.mapper(obj));
        ++summary_.refetched;
        sink_.apply_page(listing.table, rows, "", "", progress_, ChangeSource::Sync);
      } catch (const PlaneError& e) {
        // 404: deleted (or archived, draft or triage, which v1 cannot tell apart). 403: no longer
        // visible to the key (a project deleted, or made private) — gone from what it can see.
        if (!is_not_found(e) && !is_forbidden(e)) throw;
        gone.push_back(id);
      }
    }
  }
  if (!gone.empty()) summary_.gone += sink_.mark_gone(listing.table, gone);
}

void SyncEngine::sync_projects(std::vector<json>& projects) {
  progress_.phase = "projects";
  // created_at is a stable order Plane accepts for projects; its default, sort_order, is per user
  // and mostly tied (65535, or NULL for projects the user never joined).
  try {
    std::vector<std::string> seen;
    std::string cursor;
    for (;;) {
      ListPage page = client_.list_page("projects/", {{"order_by", "created_at"}}, cursor);
      if (cursor.empty()) note_total(page);
      json rows = json::array();
      for (const auto& obj : page.results) {
        json row = map_project(obj);
        seen.push_back(row["plane_id"].get<std::string>());
        rows.push_back(row);
        // Plane lists archived projects, but hides their work items.
        if (row["archived_at"].is_null()) {
          row.erase("raw");
          projects.push_back(std::move(row));
        }
      }
      ++progress_.pages_done;
      ++summary_.list_pages;
      progress_.rows_done += static_cast<long>(rows.size());
      summary_.projects += static_cast<long>(rows.size());
      sink_.apply_page(MirrorTable::Projects, MirrorRows(std::move(rows)), "", "", progress_, ChangeSource::Sync);
      if (!page.has_next || page.bare_array) break;
      cursor = page.next_cursor;
    }
    settle_missing({{"projects/"}, {""}, MirrorTable::Projects, Scope{std::nullopt, ""},
                    [](const json& o) { return map_project(o); },
                    [](const std::string& id) { return "projects/" + id + "/"; }},
                   seen);
  } catch (const PlaneError& e) {
    // The workspace's project list is open to every member: a 403 there refuses the credential.
    if (!is_forbidden(e)) throw;
    throw PlaneError(ErrorKind::Auth,
                     std::string("Plane refused the credential on the workspace's project list (") +
                         e.what() + ")",
                     e.http_status());
  }
}

SyncEngine::Listing SyncEngine::work_item_listing(const std::string& project_id) {
  return {{work_items_resource(project_id)},
          {""},
          MirrorTable::Items,
          Scope{project_id, "issue"},
          [this, project_id](const json& o) { return item_row(o, project_id); },
          [this, project_id](const std::string& id) { return client_.work_items_path(project_id) + id + "/"; }};
}

ListPage SyncEngine::list_work_items(const std::string& project_id, const QueryParams& query,
                                     const std::string& cursor, ListForm form) {
  try {
    return client_.list_page(client_.work_items_path(project_id), query, cursor, form);
  } catch (const PlaneError& e) {
    // Community Edition before v1.1.0 has no work-items/ route: its 404 looks like a missing
    // project's. The project was just listed, so try the issues/ alias (same view) and keep it.
    // A resumed scan too: its cursor may come from a run that switched but stopped before it
    // could save the profile, and would otherwise fail every run until a full sync.
    if (!is_not_found(e) || client_.work_items_segment() != "work-items") throw;
    client_.use_work_items_segment("issues");
    try {
      return client_.list_page(client_.work_items_path(project_id), query, cursor, form);
    } catch (const PlaneError& again) {
      if (is_not_found(again)) client_.use_work_items_segment("work-items");  // the project is gone
      throw;
    }
  }
}

void SyncEngine::sync_work_items(const std::string& project_id) {
  progress_.phase = "work_items";
  const std::string resource = work_items_resource(project_id);
  const ResourceState state = sink_.load_state(resource);
  const std::string saved = rebase_cursor(state.cursor, client_.per_page());
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
  if (listed_all && backfill && saved.empty()) {
    sink_.complete_refresh(refresh_resource(project_id));  // every row was just read
  } else {
    refresh_work_items(project_id);
  }
}

bool SyncEngine::backfill_work_items(const std::string& project_id, std::string cursor) {
  ++summary_.backfill_projects;
  const std::string resource = work_items_resource(project_id);
  const bool from_start = cursor.empty();
  std::vector<std::string> seen;
  bool first = true;
  for (;;) {
    // Oldest first: rows created during the scan land after our position instead of shifting it.
    ListPage page = list_work_items(project_id, {{"order_by", "created_at"}}, cursor, ListForm::Parsed);
    if (first) note_total(page);
    first = false;
    const MirrorRows rows = item_rows(page, project_id);
    for (std::size_t i = 0; from_start && i < rows.size(); ++i) {
      seen.push_back(rows.columns(i)["plane_id"].get<std::string>());
    }
    ++progress_.pages_done;
    ++summary_.list_pages;
    progress_.rows_done += static_cast<long>(rows.size());
    summary_.work_items += static_cast<long>(rows.size());
    const bool more = page.has_next && !page.bare_array;
    sink_.apply_page(MirrorTable::Items, rows, resource, more ? page.next_cursor : "", progress_,
                     ChangeSource::Sync);
    if (!more) break;
    cursor = page.next_cursor;
  }
  if (!from_start) return false;
  settle_missing(work_item_listing(project_id), seen);
  return true;
}

void SyncEngine::incremental_work_items(const std::string& project_id, std::int64_t watermark_us) {
  // Plane has no updated_at filter: read newest-first and stop once a page reaches rows older
  // than the watermark minus the overlap. A row that moves to the front while we page is newer than
  // the watermark we will store, so the next scan sees it.
  ++summary_.incremental_projects;
  const std::int64_t stop_below = watermark_us - options_.overlap_ms * 1000;
  std::string cursor;
  for (;;) {
    ListPage page = list_work_items(project_id, {{"order_by", "-updated_at"}}, cursor, ListForm::Parsed);
    const MirrorRows rows = item_rows(page, project_id);
    bool reached_old = false;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (auto t = row_updated_us(rows.columns(i)); t && *t < stop_below) reached_old = true;
    }
    ++progress_.pages_done;
    ++summary_.list_pages;
    progress_.rows_done += static_cast<long>(rows.size());
    summary_.work_items += static_cast<long>(rows.size());
    sink_.apply_page(MirrorTable::Items, rows, "", "", progress_, ChangeSource::Sync);
    if (reached_old || !page.has_next || page.bare_array) break;
    cursor = page.next_cursor;
  }
}

void SyncEngine::refresh_work_items(const std::string& project_id) {
  // Plane writes some changes with bulk updates that move neither updated_at nor send a webhook
  // (automation closing or archiving items, timeline drags, adding sub-items). Only re-reading the
  // rows shows them: every row once per refresh_interval, a few pages per run, resumed by cursor.
  if (options_.refresh_interval_ms <= 0 || refresh_pages_left_ <= 0) return;
  const std::string resource = refresh_resource(project_id);
  const ResourceState state = sink_.load_state(resource);
  std::string cursor = rebase_cursor(state.cursor, client_.per_page());
  const bool due = !cursor.empty() || !state.last_full_us ||
                   options_.now_us - *state.last_full_us >= options_.refresh_interval_ms * 1000;
  if (!due) return;
  progress_.phase = "refresh";
  for (;;) {
    ListPage page = list_work_items(project_id, {{"order_by", "created_at"}}, cursor, ListForm::Parsed);
    const MirrorRows rows = item_rows(page, project_id);
    ++progress_.pages_done;
    ++summary_.list_pages;
    summary_.refreshed += static_cast<long>(rows.size());
    --refresh_pages_left_;
    const bool more = page.has_next && !page.bare_array;
    sink_.apply_page(MirrorTable::Items, rows, resource, more ? page.next_cursor : "", progress_,
                     ChangeSource::Refresh);
    if (!more) {
      sink_.complete_refresh(resource);
      return;
    }
    if (refresh_pages_left_ <= 0) return;  // the cursor is saved: the next run goes on from here
    cursor = page.next_cursor;
  }
}

void SyncEngine::reconcile_work_items(const std::string& project_id) {
  // Deletes are invisible to polling: list ids and versions only, settle what Plane no longer
  // returns, and fetch what the mirror lacks or holds older.
  progress_.phase = "reconcile";
  std::vector<std::string> seen;
  json versions = json::array();
  std::string cursor;
  for (;;) {
    ListPage page =
        list_work_items(project_id, {{"order_by", "created_at"}, {"fields", "id,updated_at"}}, cursor);
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
  settle_missing(work_item_listing(project_id), seen);
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
      item = client_.get_object(client_.work_items_path(project_id) + id + "/");
    } catch (const PlaneError& e) {
      if (is_not_found(e)) continue;  // deleted or archived since it was listed
      throw;
    }
    MirrorRows rows;
    rows.add(item_row(std::move(item), project_id));
    ++summary_.refetched;
    sink_.apply_page(MirrorTable::Items, rows, "", "", progress_, ChangeSource::Sync);
  }
}

void SyncEngine::sync_pages(const std::vector<std::string>& readable_projects) {
  progress_.phase = "pages";
  // Community Edition has no pages API (404); Plane Cloud refuses it without the wiki.pages:read
  // or projects.pages:read scope or on a plan without pages (403). Either way: recorded once, then
  // only re-checked by a full sync.
  summary_.pages += sync_whole_list({{"pages/"}, {kWorkspacePages}, MirrorTable::Pages,
                                     Scope{std::string(), ""},
                                     [](const json& o) { return map_page(o, ""); },
                                     [](const std::string& id) { return "pages/" + id + "/"; }, true});
  summary_.pages_available = optional_states_[kWorkspacePages].available;
  if (!summary_.pages_available) return;
  for (const auto& project : readable_projects) {
    const std::string base = "projects/" + project + "/pages/";
    summary_.pages += sync_whole_list({{base}, {kProjectPages}, MirrorTable::Pages, Scope{project, ""},
                                       [&](const json& o) { return map_page(o, project); },
                                       [base](const std::string& id) { return base + id + "/"; }, true});
    if (!optional_states_[kProjectPages].available) break;  // refused for one: refused for all
  }
}

}  // namespace plane
