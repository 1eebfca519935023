// Unit tests for src/core/sync_engine: whole syncs of a workspace against a fake Plane that pages
// like the real one (offset cursors, next_cursor always set, stop on next_page_results, order_by,
// fields, detail GETs), written to a fake mirror that keeps rows by table and id with the Postgres
// sink's semantics (upserts never make a row older and clear gone_at, gone-marking of confirmed
// rows, a project taking its rows along, watermarks capped at the scan start, cursors per resource).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/plane_client.hpp"
#include "core/rate_budget.hpp"
#include "core/sync_engine.hpp"
#include "core/timestamp.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakePlane;
using fakes::FakeTransport;
using fakes::FakeWaiter;
using fakes::ParsedUrl;
using nlohmann::json;
using plane::MirrorTable;
using plane::Scope;
using Ids = std::vector<std::string>;

const std::string kPrefix = "https://api.plane.so/api/v1/workspaces/acme/";
const std::int64_t kBaseUs = *plane::parse_timestamp_micros("2026-03-01T00:00:00Z");

std::int64_t us(int minute) { return kBaseUs + std::int64_t{minute} * 60'000'000; }

// Plane renders datetimes in the API key owner's zone: here +05:30, so the engine must compare
// instants, not strings.
std::string at(int minute) {
  std::string local = plane::format_timestamp_utc(us(minute) + std::int64_t{330} * 60'000'000);
  local.pop_back();  // "Z"
  return local + "+05:30";
}

const std::int64_t kNow = us(100'000);  // when every run starts unless a test says otherwise

json work_item(const std::string& id, const std::string& project, int created, int updated,
               const std::string& name = "") {
  return {{"id", id},
          {"name", name.empty() ? "item " + id : name},
          {"project", project},
          {"sequence_id", created},
          {"created_at", at(created)},
          {"updated_at", at(updated)},
          {"state", project + "-s1"},
          {"priority", "none"},
          {"assignees", json::array()},
          {"labels", json::array()},
          {"archived_at", nullptr}};
}

json object(const std::string& id, const json& project, bool archived = false) {
  return {{"id", id},
          {"name", id},
          {"project", project},
          {"created_at", at(0)},
          {"updated_at", at(1)},
          {"archived_at", archived ? json(at(2)) : json(nullptr)}};
}

std::optional<std::int64_t> updated_us(const json& row) {
  auto it = row.find("plane_updated_at");
  if (it == row.end() || !it->is_string()) return std::nullopt;
  return plane::parse_timestamp_micros(it->get<std::string>());
}

// ---------------------------------------------------------------------------------------------
// The mirror.

struct Stored {
  json row;
  bool gone = false;
};

struct ApplyCall {
  MirrorTable table;
  json rows;
  std::string resource;
  std::string next_cursor;
  plane::SyncProgress progress;
  plane::ChangeSource source;
  Ids ids() const {
    Ids out;
    for (const auto& r : rows) out.push_back(r["plane_id"].get<std::string>());
    return out;
  }
};

struct ScanCall {
  std::string resource;
  MirrorTable table;
  Scope scope;
  std::int64_t started_us;
  bool backfill;
};

struct ScopeCall {
  MirrorTable table;
  Scope scope;
  Ids seen;
};

class FakeSink : public plane::MirrorSink {
 public:
  // What the mirror holds, across runs.
  std::map<MirrorTable, std::map<std::string, Stored>> tables;
  std::map<std::string, plane::ResourceState> states;
  std::map<std::string, int> full_syncs;  // last_full_sync set this many times

  // What the current run asked (cleared by clear_log()).
  std::vector<std::string> loads;
  std::vector<ApplyCall> applies;
  std::vector<ScanCall> scans;
  std::vector<ScopeCall> missing_finds;
  std::vector<Ids> gone_marks;
  std::vector<json> stale_checks;
  std::vector<std::pair<std::string, bool>> availability_changes;
  std::map<std::string, std::string> availability_reasons;
  std::map<std::string, plane::ProjectAccess> access;
  std::map<std::string, std::string> access_reasons;
  std::vector<std::pair<std::string, plane::ProjectAccess>> access_changes;
  plane::ServerProfile profile;
  int profile_saves = 0;
  std::vector<std::string> refreshes_completed;
  std::map<std::string, Ids> cycle_members, module_members;
  std::map<std::string, std::string> member_projects;  // cycle or module id -> project id given
  std::int64_t now_us = 0;  // the run's start (complete_refresh stamps it)

  void clear_log() {
    access_changes.clear();
    refreshes_completed.clear();
    profile_saves = 0;
    loads.clear();
    applies.clear();
    scans.clear();
    missing_finds.clear();
    gone_marks.clear();
    stale_checks.clear();
    availability_changes.clear();
  }

  plane::ResourceState load_state(const std::string& resource) override {
    loads.push_back(resource);
    auto it = states.find(resource);
    return it == states.end() ? plane::ResourceState{} : it->second;
  }

  void apply_page(MirrorTable table, const plane::MirrorRows& batch, const std::string& resource,
                  const std::string& next_cursor, const plane::SyncProgress& progress,
                  plane::ChangeSource source) override {
    const json rows = batch.to_json();
    applies.push_back(ApplyCall{table, rows, resource, next_cursor, progress, source});
    auto& t = tables[table];
    for (const auto& row : rows) {
      EXPECT_TRUE(row.contains("plane_id") && row["plane_id"].is_string()) << row.dump();
      const std::string id = row["plane_id"].get<std::string>();
      auto it = t.find(id);
      if (it != t.end()) {
        // The upsert guard: never make a row older (the gone flag stays as it was then too).
        const auto old_us = updated_us(it->second.row), new_us = updated_us(row);
        if (old_us && new_us && *new_us < *old_us) continue;
      }
      t[id] = Stored{row, false};
    }
    if (!resource.empty()) states[resource].cursor = next_cursor;
  }

  void complete_scan(const std::string& resource, MirrorTable table, const Scope& scope,
                     std::int64_t scan_started_us, bool backfill) override {
    scans.push_back(ScanCall{resource, table, scope, scan_started_us, backfill});
    if (table != MirrorTable::Items || !scope.project_id) {
      ADD_FAILURE() << "complete_scan supports work item scans only";
      return;
    }
    auto& st = states[resource];
    st.cursor.clear();
    std::optional<std::int64_t> newest;
    for (const auto& [id, stored] : tables[table]) {
      if (!in_scope(table, stored.row, scope)) continue;
      if (auto t = updated_us(stored.row); t && (!newest || *t > *newest)) newest = t;
    }
    if (newest) st.watermark_us = std::min(*newest, scan_started_us);
    if (backfill) ++full_syncs[resource];
  }

  void complete_refresh(const std::string& resource) override {
    refreshes_completed.push_back(resource);
    states[resource].cursor.clear();
    states[resource].last_full_us = now_us;
  }

  Ids find_missing(MirrorTable table, const Scope& scope, const Ids& seen_ids) override {
    missing_finds.push_back(ScopeCall{table, scope, sorted(seen_ids)});
    const std::set<std::string> seen(seen_ids.begin(), seen_ids.end());
    Ids out;
    for (const auto& [id, stored] : tables[table]) {
      if (!stored.gone && in_scope(table, stored.row, scope) && seen.count(id) == 0) out.push_back(id);
    }
    return out;
  }

  long mark_gone(MirrorTable table, const Ids& ids) override {
    gone_marks.push_back(sorted(ids));
    long marked = 0;
    for (const auto& id : ids) {
      auto it = tables[table].find(id);
      if (it != tables[table].end() && !it->second.gone) {
        it->second.gone = true;
        ++marked;
      }
      if (table != MirrorTable::Projects) continue;
      for (auto& [t, rows] : tables) {  // a project gone takes its rows along
        if (t == MirrorTable::Projects) continue;
        for (auto& [rid, stored] : rows) {
          if (stored.row.value("project_plane_id", json()) == id) stored.gone = true;
        }
      }
    }
    return marked;
  }

  Ids find_stale(MirrorTable table, const json& versions) override {
    stale_checks.push_back(versions);
    Ids out;
    for (const auto& v : versions) {
      const std::string id = v.at("id").get<std::string>();
      auto it = tables[table].find(id);
      if (it == tables[table].end() || it->second.gone) {
        out.push_back(id);
        continue;
      }
      if (!v.at("updated_at").is_string()) continue;
      const auto plane_us = plane::parse_timestamp_micros(v["updated_at"].get<std::string>());
      const auto mirror_us = updated_us(it->second.row);
      if (plane_us && (!mirror_us || *mirror_us < *plane_us)) out.push_back(id);
    }
    return out;
  }

  Ids find_without_content(const json& versions) override {
    Ids out = find_stale(MirrorTable::Pages, versions);
    for (const auto& v : versions) {
      const std::string id = v.at("id").get<std::string>();
      auto it = tables[MirrorTable::Pages].find(id);
      if (it != tables[MirrorTable::Pages].end() && !it->second.gone &&
          it->second.row.value("content_text", json()).is_null() &&
          std::find(out.begin(), out.end(), id) == out.end())
        out.push_back(id);
    }
    return out;
  }

  void set_available(const std::string& resource, bool available, const std::string& reason) override {
    availability_changes.emplace_back(resource, available);
    availability_reasons[resource] = reason;
    states[resource].available = available;
  }

  std::map<std::string, plane::ProjectAccess> load_project_access() override { return access; }
  void set_project_access(const std::string& project_id, plane::ProjectAccess a,
                          const std::string& reason) override {
    access_changes.emplace_back(project_id, a);
    access[project_id] = a;
    access_reasons[project_id] = reason;
  }
  void set_cycle_members(const std::string& project_id, const std::string& cycle_id, const Ids& ids) override {
    cycle_members[cycle_id] = sorted(ids);
    member_projects[cycle_id] = project_id;
  }
  void set_module_members(const std::string& project_id, const std::string& module_id, const Ids& ids) override {
    module_members[module_id] = sorted(ids);
    member_projects[module_id] = project_id;
  }
  plane::ServerProfile load_profile() override { return profile; }
  void save_profile(const plane::ServerProfile& p) override {
    profile = p;
    ++profile_saves;
  }

  // Accessors for assertions.
  // The find_missing calls of work item scans (lists settle their own rows too).
  std::vector<ScopeCall> item_finds() const {
    std::vector<ScopeCall> out;
    for (const auto& f : missing_finds) {
      if (f.table == MirrorTable::Items && f.scope.item_type == "issue") out.push_back(f);
    }
    return out;
  }
  const Stored* find(MirrorTable table, const std::string& id) const {
    auto t = tables.find(table);
    if (t == tables.end()) return nullptr;
    auto it = t->second.find(id);
    return it == t->second.end() ? nullptr : &it->second;
  }
  bool live(MirrorTable table, const std::string& id) const {
    const Stored* s = find(table, id);
    return s != nullptr && !s->gone;
  }
  bool gone(MirrorTable table, const std::string& id) const {
    const Stored* s = find(table, id);
    return s != nullptr && s->gone;
  }
  json row(MirrorTable table, const std::string& id) const {
    const Stored* s = find(table, id);
    return s == nullptr ? json() : s->row;
  }
  Ids live_ids(MirrorTable table, const std::string& item_type = "") const {
    Ids out;
    auto t = tables.find(table);
    if (t == tables.end()) return out;
    for (const auto& [id, stored] : t->second) {
      if (stored.gone) continue;
      if (!item_type.empty() && stored.row.value("item_type", "") != item_type) continue;
      out.push_back(id);
    }
    return out;
  }
  // Applies for one resource (a work item scan saving its cursor).
  std::vector<ApplyCall> applies_for(const std::string& resource) const {
    std::vector<ApplyCall> out;
    for (const auto& a : applies) {
      if (a.resource == resource) out.push_back(a);
    }
    return out;
  }
  // Applies that wrote rows into `table`.
  std::vector<ApplyCall> writes_to(MirrorTable table) const {
    std::vector<ApplyCall> out;
    for (const auto& a : applies) {
      if (a.table == table && !a.rows.empty()) out.push_back(a);
    }
    return out;
  }

  static bool in_scope(MirrorTable table, const json& row, const Scope& scope) {
    if (table != MirrorTable::Projects && scope.project_id) {
      const json& project = row.contains("project_plane_id") ? row["project_plane_id"] : json();
      if (scope.project_id->empty()) {
        if (!project.is_null()) return false;
      } else if (project != *scope.project_id) {
        return false;
      }
    }
    if (table == MirrorTable::Items && row.value("item_type", "") != scope.item_type) return false;
    return true;
  }
  static Ids sorted(Ids ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
  }
};

// ---------------------------------------------------------------------------------------------
// The fixture: one workspace "acme" with two live projects and an archived one.

std::string query(const ParsedUrl& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? std::string() : it->second;
}

class SyncEngineTest : public ::testing::Test {
 protected:
  SyncEngineTest() : plane_(kPrefix), transport_(&waiter_) {
    transport_.handler = [this](const plane::HttpRequest& r) { return plane_(r); };
  }

  // p1: work items a..f (created 1..6, updated 10..60, listed out of order: Plane sorts);
  // p2: work item z. Each live project: 3 states (two pages at per_page 2), 1 label, 2 cycles +
  // 1 archived, 1 module + 1 archived. px is archived: Plane lists it but hides its work items.
  // No pages API (self-hosted) unless a test adds the lists.
  void seed() {
    plane_.lists["projects/"] =
        json::array({object("p1", nullptr), object("p2", nullptr), object("px", nullptr, true)});
    for (const std::string p : {"p1", "p2", "px"}) {
      const std::string base = "projects/" + p + "/";
      plane_.lists[base + "states/"] = json::array({object(p + "-s1", p), object(p + "-s2", p), object(p + "-s3", p)});
      plane_.lists[base + "labels/"] = json::array({object(p + "-l1", p)});
      plane_.lists[base + "cycles/"] = json::array({object(p + "-c1", p), object(p + "-c2", p)});
      plane_.lists[base + "archived-cycles/"] = json::array({object(p + "-c0", p, true)});
      plane_.lists[base + "modules/"] = json::array({object(p + "-m1", p)});
      plane_.lists[base + "archived-modules/"] = json::array({object(p + "-m0", p, true)});
    }
    plane_.lists["projects/p1/work-items/"] =
        json::array({work_item("c", "p1", 3, 30), work_item("a", "p1", 1, 10), work_item("f", "p1", 6, 60),
                     work_item("b", "p1", 2, 20), work_item("e", "p1", 5, 50), work_item("d", "p1", 4, 40)});
    plane_.lists["projects/p2/work-items/"] = json::array({work_item("z", "p2", 1, 5)});
    plane_.lists["projects/px/work-items/"] = json::array({work_item("hidden", "px", 1, 5)});
  }

  // One sync run; the request and sink logs then describe this run only.
  plane::SyncSummary run(plane::SyncOptions options = {}, int per_page = 2) {
    plane_.requests.clear();
    transport_.sent.clear();
    sink.clear_log();
    plane::PlaneClientConfig config;
    config.api_url = "https://api.plane.so";
    config.workspace_slug = "acme";
    config.per_page = per_page;
    config.max_attempts = 2;
    plane::PlaneClient client(config, transport_, budget_, credentials_, waiter_);
    if (options.now_us == 0) options.now_us = kNow;
    if (!refresh_) options.refresh_interval_ms = 0;  // the drift refresh has tests of its own
    if (!memberships_) options.memberships = false;  // and so do cycle and module memberships
    sink.now_us = options.now_us;
    plane::SyncEngine engine(client, sink, options);
    return engine.run();
  }

  static plane::SyncOptions opts(bool full, bool reconcile) {
    plane::SyncOptions o;
    o.full = full;
    o.reconcile = reconcile;
    return o;
  }

  // Requests of the last run to exactly this path.
  std::vector<ParsedUrl> requests_to(const std::string& path) const {
    std::vector<ParsedUrl> out;
    for (const auto& r : plane_.requests) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  }
  // Work item list requests of a project, by their fields parameter ("" for full objects).
  std::vector<ParsedUrl> item_lists(const std::string& project, const std::string& fields = "") const {
    std::vector<ParsedUrl> out;
    for (const auto& r : requests_to("projects/" + project + "/work-items/")) {
      if (query(r, "fields") == fields) out.push_back(r);
    }
    return out;
  }
  // Detail GETs of work items of a project (ids, in request order).
  Ids item_details(const std::string& project) const {
    const std::string base = "projects/" + project + "/work-items/";
    Ids out;
    for (const auto& r : plane_.requests) {
      if (r.path.size() > base.size() && r.path.rfind(base, 0) == 0) {
        out.push_back(r.path.substr(base.size(), r.path.size() - base.size() - 1));
      }
    }
    return out;
  }
  long requests_under(const std::string& prefix) const {
    return std::count_if(plane_.requests.begin(), plane_.requests.end(),
                         [&](const ParsedUrl& r) { return r.path.rfind(prefix, 0) == 0; });
  }
  long requests_ending(const std::string& suffix) const {
    return std::count_if(plane_.requests.begin(), plane_.requests.end(), [&](const ParsedUrl& r) {
      return r.path.size() >= suffix.size() &&
             r.path.compare(r.path.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
  }

  // Plane-side edits between or during runs.
  void remove_from(const std::string& path, const std::string& id) {
    json& list = plane_.lists.at(path);
    const auto before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(), [&](const json& o) { return o["id"] == id; }),
               list.end());
    ASSERT_EQ(list.size() + 1, before) << id << " not in " << path;
  }
  void replace_in(const std::string& path, const json& obj) {
    for (auto& o : plane_.lists.at(path)) {
      if (o["id"] == obj["id"]) {
        o = obj;
        return;
      }
    }
    plane_.lists.at(path).push_back(obj);
  }
  // Runs `edit` once, just before the first request matching path, fields and cursor is served.
  void edit_before(const std::string& path, const std::string& fields, const std::string& cursor,
                   std::function<void()> edit) {
    auto done = std::make_shared<bool>(false);
    plane_.before = [=](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
      if (!*done && r.path == path && query(r, "fields") == fields && query(r, "cursor") == cursor) {
        *done = true;
        edit();
      }
      return std::nullopt;
    };
  }
  // Answers `status` to every request matching path and cursor.
  void fail(const std::string& path, const std::string& cursor, long status) {
    plane_.before = [=](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
      if (r.path == path && query(r, "cursor") == cursor && query(r, "fields").empty()) {
        return fakes::response(status, R"({"detail": "fault"})");
      }
      return std::nullopt;
    };
  }

  bool refresh_ = false;
  bool memberships_ = false;
  FakeSink sink;
  FakeWaiter waiter_;
  FakePlane plane_;
  FakeTransport transport_;
  plane::LocalRequestBudget budget_{0, 60000};
  fakes::FakeCredentials credentials_;
};

// ---------------------------------------------------------------------------------------------
// First run: a backfill of everything.

TEST_F(SyncEngineTest, FirstRunBackfillsEveryObjectType) {
  seed();
  const plane::SyncSummary s = run();

  EXPECT_EQ(s.projects, 3);
  EXPECT_EQ(s.states, 6);
  EXPECT_EQ(s.labels, 2);
  EXPECT_EQ(s.cycles, 6);  // live and archived
  EXPECT_EQ(s.modules, 4);
  EXPECT_EQ(s.work_items, 7);
  EXPECT_EQ(s.pages, 0);
  EXPECT_EQ(s.backfill_projects, 2);
  EXPECT_EQ(s.incremental_projects, 0);
  EXPECT_EQ(s.gone, 0);
  EXPECT_EQ(s.refetched, 0);

  EXPECT_EQ(sink.live_ids(MirrorTable::Projects), (Ids{"p1", "p2", "px"}));
  EXPECT_TRUE(sink.row(MirrorTable::Projects, "px")["archived_at"].is_string());
  EXPECT_TRUE(sink.row(MirrorTable::Projects, "p1")["archived_at"].is_null());
  EXPECT_EQ(sink.live_ids(MirrorTable::States),
            (Ids{"p1-s1", "p1-s2", "p1-s3", "p2-s1", "p2-s2", "p2-s3"}));
  EXPECT_EQ(sink.live_ids(MirrorTable::Labels), (Ids{"p1-l1", "p2-l1"}));
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "cycle"),
            (Ids{"p1-c0", "p1-c1", "p1-c2", "p2-c0", "p2-c1", "p2-c2"}));
  EXPECT_TRUE(sink.row(MirrorTable::Items, "p1-c0")["archived_at"].is_string());
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "module"), (Ids{"p1-m0", "p1-m1", "p2-m0", "p2-m1"}));
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f", "z"}));
  EXPECT_EQ(sink.row(MirrorTable::Items, "z")["project_plane_id"], "p2");
  EXPECT_EQ(sink.row(MirrorTable::States, "p2-s1")["project_plane_id"], "p2");

  // The archived project's work items are hidden by Plane, and nothing of it is asked for.
  EXPECT_EQ(requests_under("projects/px/"), 0);
  EXPECT_FALSE(sink.live(MirrorTable::Items, "hidden"));
  // Every listed resource of a live project is read once per page.
  EXPECT_EQ(requests_to("projects/p1/states/").size(), 2u);
  EXPECT_EQ(requests_to("projects/p2/archived-cycles/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p2/archived-modules/").size(), 1u);

  // Backfill: oldest first, constant per_page, following next_page_results over three pages.
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 3u);
  for (const auto& r : p1) {
    EXPECT_EQ(query(r, "order_by"), "created_at");
    EXPECT_EQ(query(r, "per_page"), "2");
  }
  EXPECT_EQ(p1[0].query.count("cursor"), 0u);
  EXPECT_EQ(query(p1[1], "cursor"), "2:1:0");
  EXPECT_EQ(query(p1[2], "cursor"), "2:2:0");
  EXPECT_EQ(item_lists("p2").size(), 1u);
  EXPECT_TRUE(item_details("p1").empty());

  // Each project's scan completed as a backfill, watermark = newest updated_at it saw.
  ASSERT_EQ(sink.scans.size(), 2u);
  EXPECT_EQ(sink.scans[0].resource, "work_items:p1");
  EXPECT_EQ(sink.scans[0].scope.project_id, std::optional<std::string>("p1"));
  EXPECT_EQ(sink.scans[0].scope.item_type, "issue");
  EXPECT_EQ(sink.scans[0].started_us, kNow);
  EXPECT_TRUE(sink.scans[0].backfill);
  EXPECT_EQ(sink.scans[1].resource, "work_items:p2");
  EXPECT_EQ(sink.states["work_items:p1"].watermark_us, us(60));
  EXPECT_EQ(sink.states["work_items:p2"].watermark_us, us(5));
  EXPECT_EQ(sink.states["work_items:p1"].cursor, "");
  EXPECT_EQ(sink.full_syncs["work_items:p1"], 1);

  // A backfill from the first page has seen every live id: it looks for gone rows itself.
  ASSERT_EQ(sink.item_finds().size(), 2u);
  EXPECT_EQ(sink.item_finds()[0].seen, (Ids{"a", "b", "c", "d", "e", "f"}));
  EXPECT_TRUE(sink.gone_marks.empty());

  // No pages API: recorded, and no project's pages asked for.
  EXPECT_FALSE(s.pages_available);
  EXPECT_EQ(sink.availability_changes, (std::vector<std::pair<std::string, bool>>{{"pages", false}}));
  EXPECT_EQ(requests_to("pages/").size(), 1u);
  EXPECT_EQ(requests_ending("/pages/"), 0);

  // 2 projects + 2 × (2 states + labels + cycles + archived + modules + archived) + 3 + 1 items.
  EXPECT_EQ(s.list_pages, 20);
  EXPECT_EQ(s.http.requests, 21);  // and the pages 404
  EXPECT_EQ(s.http.requests, static_cast<long>(transport_.sent.size()));
}

TEST_F(SyncEngineTest, BackfillSavesTheCursorWithEveryPage) {
  seed();
  run();
  const auto pages = sink.applies_for("work_items:p1");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].ids(), (Ids{"a", "b"}));
  EXPECT_EQ(pages[0].next_cursor, "2:1:0");
  EXPECT_EQ(pages[1].ids(), (Ids{"c", "d"}));
  EXPECT_EQ(pages[1].next_cursor, "2:2:0");
  EXPECT_EQ(pages[2].ids(), (Ids{"e", "f"}));
  EXPECT_EQ(pages[2].next_cursor, "");  // the last page clears it
  ASSERT_EQ(sink.applies_for("work_items:p2").size(), 1u);
  // Small whole lists keep no cursor; every work item page does.
  long without = 0;
  for (const auto& a : sink.applies) {
    if (!a.resource.empty()) continue;
    ++without;
    EXPECT_EQ(a.next_cursor, "");
    for (const auto& r : a.rows) EXPECT_NE(r.value("item_type", ""), "issue");
  }
  EXPECT_EQ(without, 20 - 4);
}

TEST_F(SyncEngineTest, InterruptedBackfillResumesFromTheSavedCursor) {
  seed();
  fail("projects/p1/work-items/", "2:2:0", 503);  // retried once (max_attempts 2), then given up
  EXPECT_THROW(run(), plane::PlaneError);
  EXPECT_EQ(sink.states["work_items:p1"].cursor, "2:2:0");
  EXPECT_FALSE(sink.states["work_items:p1"].watermark_us.has_value());
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d"}));
  EXPECT_TRUE(sink.scans.empty());
  EXPECT_TRUE(sink.item_finds().empty());

  plane_.before = nullptr;
  const plane::SyncSummary s = run();
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 1u);  // only the page it stopped at
  EXPECT_EQ(query(p1[0], "cursor"), "2:2:0");
  EXPECT_EQ(query(p1[0], "order_by"), "created_at");
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f", "z"}));
  EXPECT_EQ(s.work_items, 2 + 1);  // e, f and p2's z
  EXPECT_EQ(s.backfill_projects, 2);
  ASSERT_EQ(sink.scans.size(), 2u);
  EXPECT_TRUE(sink.scans[0].backfill);
  EXPECT_EQ(sink.states["work_items:p1"].cursor, "");
  EXPECT_EQ(sink.states["work_items:p1"].watermark_us, us(60));
  // A resumed scan has not seen the first pages' ids: it does not judge gone rows from them; the
  // project is reconciled by a complete id listing instead (rows edited between the runs too).
  EXPECT_FALSE(item_lists("p1", "id,updated_at").empty());
  ASSERT_EQ(sink.item_finds().size(), 2u);
  EXPECT_EQ(sink.item_finds()[0].scope.project_id, std::optional<std::string>("p1"));
  EXPECT_EQ(sink.item_finds()[1].scope.project_id, std::optional<std::string>("p2"));
}

TEST_F(SyncEngineTest, ResumedCursorIsRebasedWhenPerPageChanged) {
  seed();
  sink.states["work_items:p1"].cursor = "2:2:0";  // offset 4 at per_page 2
  run({}, 3);
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_EQ(query(p1[0], "cursor"), "3:1:0");  // offset 3: re-reads d rather than skipping e
  EXPECT_EQ(query(p1[0], "per_page"), "3");
  const auto pages = sink.applies_for("work_items:p1");
  ASSERT_EQ(pages.size(), 1u);
  EXPECT_EQ(pages[0].ids(), (Ids{"d", "e", "f"}));
}

TEST_F(SyncEngineTest, UnparsableSavedCursorStartsOver) {
  seed();
  sink.states["work_items:p1"].cursor = "garbage";
  run();
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 3u);
  EXPECT_EQ(p1[0].query.count("cursor"), 0u);
  EXPECT_EQ(sink.item_finds().size(), 2u);  // a from-start scan
}

// ---------------------------------------------------------------------------------------------
// Incremental runs.

TEST_F(SyncEngineTest, SecondRunIsIncrementalAndStopsBelowTheWatermark) {
  seed();
  const plane::SyncSummary first = run();
  const size_t backfill_requests = item_lists("p1").size();
  // In Plane: b edited, g created.
  replace_in("projects/p1/work-items/", work_item("b", "p1", 2, 70, "b renamed"));
  plane_.lists["projects/p1/work-items/"].push_back(work_item("g", "p1", 7, 80));

  plane::SyncOptions options;
  options.overlap_ms = 0;
  const plane::SyncSummary s = run(options);
  EXPECT_EQ(s.incremental_projects, 2);
  EXPECT_EQ(s.backfill_projects, 0);
  // Newest first: g80 b70 | f60 e50 — e is below the watermark (60): stop after that page.
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_LT(p1.size(), backfill_requests);
  for (const auto& r : p1) EXPECT_EQ(query(r, "order_by"), "-updated_at");
  EXPECT_EQ(query(p1[1], "cursor"), "2:1:0");
  EXPECT_EQ(item_lists("p2").size(), 1u);
  EXPECT_LT(s.list_pages, first.list_pages);

  EXPECT_EQ(sink.row(MirrorTable::Items, "b")["name"], "b renamed");
  EXPECT_TRUE(sink.live(MirrorTable::Items, "g"));
  EXPECT_EQ(s.work_items, 4 + 1);
  // Incremental scans save no cursor; they complete without a backfill.
  EXPECT_TRUE(sink.applies_for("work_items:p1").empty());
  ASSERT_EQ(sink.scans.size(), 2u);
  EXPECT_FALSE(sink.scans[0].backfill);
  EXPECT_EQ(sink.full_syncs["work_items:p1"], 1);
  EXPECT_EQ(sink.states["work_items:p1"].watermark_us, us(80));
  // Nothing judged gone without a complete listing.
  EXPECT_TRUE(sink.item_finds().empty());
  EXPECT_TRUE(sink.stale_checks.empty());
  EXPECT_TRUE(item_details("p1").empty());
}

TEST_F(SyncEngineTest, OverlapRereadsBeforeTheWatermark) {
  seed();
  run();
  replace_in("projects/p1/work-items/", work_item("b", "p1", 2, 70));
  plane_.lists["projects/p1/work-items/"].push_back(work_item("g", "p1", 7, 80));
  plane::SyncOptions options;
  options.overlap_ms = 15 * 60 * 1000;  // stop below 60 - 15 = 45 minutes
  run(options);
  // g80 b70 | f60 e50 | d40 c30 — stops there, the fourth page (a10) is never read.
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 3u);
  EXPECT_EQ(query(p1[2], "cursor"), "2:2:0");
}

TEST_F(SyncEngineTest, WatermarkIsCappedAtTheScanStart) {
  seed();
  plane::SyncOptions options;
  options.now_us = us(55);  // f (updated 60) changed while the scan ran
  run(options);
  EXPECT_EQ(sink.scans.at(0).started_us, us(55));
  EXPECT_EQ(sink.states["work_items:p1"].watermark_us, us(55));
  EXPECT_EQ(sink.states["work_items:p2"].watermark_us, us(5));
  // The next scan therefore re-reads f: f60 e50 | — e is below 55, but f's page is read.
  options.now_us = kNow;
  options.overlap_ms = 0;
  run(options);
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_EQ(sink.states["work_items:p1"].watermark_us, us(60));
}

TEST_F(SyncEngineTest, FullOptionForcesABackfill) {
  seed();
  run();
  const plane::SyncSummary s = run(opts(true, false));
  EXPECT_EQ(s.backfill_projects, 2);
  EXPECT_EQ(s.incremental_projects, 0);
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 3u);
  for (const auto& r : p1) EXPECT_EQ(query(r, "order_by"), "created_at");
  EXPECT_TRUE(sink.scans.at(0).backfill);
  EXPECT_EQ(sink.full_syncs["work_items:p1"], 2);
  EXPECT_EQ(sink.item_finds().size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Gone-marking of whole lists.

TEST_F(SyncEngineTest, WholeListsMarkWhatTheNextListingLacks) {
  seed();
  run();
  // In Plane: cycle p1-c1 deleted, p1-c2 archived (moves to the archived list), label p1-l1 and
  // state p1-s3 deleted, module p2-m1 deleted, the archived project px deleted.
  remove_from("projects/p1/cycles/", "p1-c1");
  remove_from("projects/p1/cycles/", "p1-c2");
  plane_.lists["projects/p1/archived-cycles/"].push_back(object("p1-c2", "p1", true));
  remove_from("projects/p1/labels/", "p1-l1");
  remove_from("projects/p1/states/", "p1-s3");
  remove_from("projects/p2/modules/", "p2-m1");
  remove_from("projects/", "px");

  const plane::SyncSummary s = run();
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "p1-c1"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c2"));
  EXPECT_TRUE(sink.row(MirrorTable::Items, "p1-c2")["archived_at"].is_string());
  EXPECT_TRUE(sink.gone(MirrorTable::Labels, "p1-l1"));
  EXPECT_TRUE(sink.gone(MirrorTable::States, "p1-s3"));
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "p2-m1"));
  EXPECT_TRUE(sink.gone(MirrorTable::Projects, "px"));
  EXPECT_EQ(s.gone, 5);
  // Scopes: one project's or one item type's listing never touches another's rows.
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p2-c1"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-m1"));
  EXPECT_TRUE(sink.live(MirrorTable::Labels, "p2-l1"));
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f", "z"}));

  auto cycles = std::find_if(sink.missing_finds.begin(), sink.missing_finds.end(), [](const ScopeCall& m) {
    return m.table == MirrorTable::Items && m.scope.item_type == "cycle" && m.scope.project_id == "p1";
  });
  ASSERT_NE(cycles, sink.missing_finds.end());
  EXPECT_EQ(cycles->seen, (Ids{"p1-c0", "p1-c2"}));  // the live and the archived list together
  auto projects = std::find_if(sink.missing_finds.begin(), sink.missing_finds.end(),
                               [](const ScopeCall& m) { return m.table == MirrorTable::Projects; });
  ASSERT_NE(projects, sink.missing_finds.end());
  EXPECT_FALSE(projects->scope.project_id.has_value());

  // A row that comes back is live again, and nothing else changes.
  plane_.lists["projects/p1/cycles/"].push_back(object("p1-c1", "p1"));
  const plane::SyncSummary third = run();
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c1"));
  EXPECT_EQ(third.gone, 0);
}

TEST_F(SyncEngineTest, OldServerWithoutArchivedListsStillSyncs) {
  seed();
  for (const std::string p : {"p1", "p2"}) {
    plane_.lists.erase("projects/" + p + "/archived-cycles/");
    plane_.lists.erase("projects/" + p + "/archived-modules/");
  }
  const plane::SyncSummary s = run();
  EXPECT_EQ(s.cycles, 4);
  EXPECT_EQ(s.modules, 2);
  EXPECT_EQ(requests_to("projects/p1/archived-cycles/").size(), 1u);
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "cycle"), (Ids{"p1-c1", "p1-c2", "p2-c1", "p2-c2"}));
  EXPECT_EQ(s.work_items, 7);  // and the rest of the run went on
}

TEST_F(SyncEngineTest, ANotFoundInTheMiddleOfAListIsNoProofOfAbsence) {
  seed();
  plane_.lists["projects/p1/archived-cycles/"] = json::array(
      {object("p1-c0", "p1", true), object("p1-c8", "p1", true), object("p1-c9", "p1", true)});
  plane_.lists["pages/"] = json::array({object("w1", nullptr), object("w2", nullptr), object("w3", nullptr)});
  plane_.lists["projects/p1/pages/"] = json::array();
  plane_.lists["projects/p2/pages/"] = json::array();
  run();
  ASSERT_TRUE(sink.live(MirrorTable::Items, "p1-c9"));
  ASSERT_TRUE(sink.live(MirrorTable::Pages, "w3"));

  // The second page of a list answers 404: the listing is incomplete, so its unseen rows must not
  // be marked gone, and a pages API that answered its first page is not "absent".
  fail("projects/p1/archived-cycles/", "2:1:0", 404);
  try {
    run();
  } catch (const plane::PlaneError&) {
    // Failing the run is fine; judging rows gone from a partial listing is not.
  }
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c9"));

  fail("pages/", "2:1:0", 404);
  try {
    run();
  } catch (const plane::PlaneError&) {
  }
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "w3"));
  EXPECT_TRUE(sink.availability_changes.empty());
  EXPECT_TRUE(sink.states["pages"].available);
}

// ---------------------------------------------------------------------------------------------
// Deleted work items.

TEST_F(SyncEngineTest, FromStartBackfillConfirmsMissingRowsBeforeMarkingThemGone) {
  seed();
  run();
  // f was deleted in Plane; during the next scan a is deleted after the first page was served,
  // which shifts c out of the offset window: c is missing from the listing but still exists.
  remove_from("projects/p1/work-items/", "f");
  edit_before("projects/p1/work-items/", "", "2:1:0",
              [this] { remove_from("projects/p1/work-items/", "a"); });
  const plane::SyncSummary s = run(opts(true, false));

  ASSERT_EQ(sink.item_finds().size(), 2u);
  EXPECT_EQ(sink.item_finds()[0].seen, (Ids{"a", "b", "d", "e"}));
  const Ids details = item_details("p1");
  EXPECT_EQ(std::set<std::string>(details.begin(), details.end()), (std::set<std::string>{"c", "f"}));
  EXPECT_EQ(details.size(), 2u);
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "f"));   // 404
  EXPECT_TRUE(sink.live(MirrorTable::Items, "c"));   // 200: refreshed, not marked
  EXPECT_EQ(sink.gone_marks, (std::vector<Ids>{{"f"}}));
  EXPECT_EQ(s.gone, 1);
  EXPECT_EQ(s.refetched, 1);
  EXPECT_EQ(s.list_pages, 20 - 1);  // p1 now has two pages
}

TEST_F(SyncEngineTest, ManyMissingRowsAreConfirmedByASecondIdListing) {
  seed();
  run();
  remove_from("projects/p1/work-items/", "b");
  remove_from("projects/p1/work-items/", "c");
  // Plane now lists a d e f; a is deleted after the first page (a d) was served: e is skipped.
  edit_before("projects/p1/work-items/", "", "2:1:0",
              [this] { remove_from("projects/p1/work-items/", "a"); });
  plane::SyncOptions options = opts(true, false);
  options.max_refetch = 2;
  const plane::SyncSummary s = run(options);

  ASSERT_FALSE(sink.item_finds().empty());
  EXPECT_EQ(sink.item_finds()[0].seen, (Ids{"a", "d", "f"}));  // candidates b c e: 3 > 2
  const auto ids = item_lists("p1", "id");
  ASSERT_EQ(ids.size(), 2u);  // d e | f
  EXPECT_EQ(query(ids[0], "order_by"), "created_at");
  EXPECT_TRUE(item_details("p1").empty());  // not one by one
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "b"));
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "c"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "e"));  // the second listing returned it
  EXPECT_EQ(s.gone, 2);
  EXPECT_EQ(s.refetched, 0);
  EXPECT_EQ(s.list_pages, 2 + 14 + 2 + 1 + 2);
}

TEST_F(SyncEngineTest, ReconciliationMarksDeletedItemsGone) {
  seed();
  run();
  remove_from("projects/p1/work-items/", "c");
  const plane::SyncSummary s = run(opts(false, true));

  EXPECT_EQ(s.incremental_projects, 2);
  const auto listing = item_lists("p1", "id,updated_at");
  ASSERT_EQ(listing.size(), 3u);  // a b | d e | f
  EXPECT_EQ(query(listing[0], "order_by"), "created_at");
  EXPECT_EQ(item_lists("p2", "id,updated_at").size(), 1u);
  EXPECT_EQ(item_details("p1"), (Ids{"c"}));
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "c"));
  EXPECT_EQ(sink.gone_marks, (std::vector<Ids>{{"c"}}));
  EXPECT_EQ(s.gone, 1);
  EXPECT_EQ(s.refetched, 0);
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "d", "e", "f", "z"}));
  // The versions compared: every listed id with its updated_at in UTC.
  ASSERT_EQ(sink.stale_checks.size(), 2u);
  ASSERT_EQ(sink.stale_checks[0].size(), 5u);
  EXPECT_EQ(sink.stale_checks[0][0]["id"], "a");
  EXPECT_EQ(sink.stale_checks[0][0]["updated_at"], plane::format_timestamp_utc(us(10)));
}

TEST_F(SyncEngineTest, ReconciliationKeepsACandidateThatStillExists) {
  seed();
  run();
  // a is deleted after the id listing's first page: c shifts out of the window and goes unlisted.
  edit_before("projects/p1/work-items/", "id,updated_at", "2:1:0",
              [this] { remove_from("projects/p1/work-items/", "a"); });
  const plane::SyncSummary s = run(opts(false, true));

  EXPECT_EQ(item_details("p1"), (Ids{"c"}));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "c"));
  EXPECT_TRUE(sink.gone_marks.empty());
  EXPECT_EQ(s.gone, 0);
  EXPECT_EQ(s.refetched, 1);
  // The incremental scan (f e) did not read c: its only apply is the refetch.
  auto refetch = std::find_if(sink.applies.begin(), sink.applies.end(), [](const ApplyCall& a) {
    const Ids ids = a.ids();
    return std::find(ids.begin(), ids.end(), "c") != ids.end();
  });
  ASSERT_NE(refetch, sink.applies.end());
  EXPECT_EQ(refetch->ids(), (Ids{"c"}));
  EXPECT_EQ(refetch->table, MirrorTable::Items);
  EXPECT_EQ(refetch->progress.phase, "reconcile");
  EXPECT_EQ(refetch->resource, "");
}

TEST_F(SyncEngineTest, ReconciliationRefetchesStaleVersions) {
  seed();
  run();
  // b was edited in a way the incremental scan does not reach (older than the watermark), and the
  // mirror holds a as gone though Plane lists it (e.g. restored).
  replace_in("projects/p1/work-items/", work_item("b", "p1", 2, 45, "b edited"));
  sink.tables[MirrorTable::Items]["a"].gone = true;
  plane::SyncOptions options = opts(false, true);
  options.overlap_ms = 0;
  const plane::SyncSummary s = run(options);

  EXPECT_EQ(item_lists("p1").size(), 1u);  // f60 e50: below the watermark already
  const Ids details = item_details("p1");
  EXPECT_EQ(std::set<std::string>(details.begin(), details.end()), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(details.size(), 2u);
  EXPECT_EQ(sink.row(MirrorTable::Items, "b")["name"], "b edited");
  EXPECT_TRUE(sink.live(MirrorTable::Items, "a"));
  EXPECT_EQ(s.refetched, 2);
  EXPECT_EQ(s.gone, 0);
  EXPECT_TRUE(item_details("p2").empty());
  EXPECT_EQ(s.backfill_projects, 0);
}

TEST_F(SyncEngineTest, ManyStaleVersionsRescanTheProject) {
  seed();
  run();
  replace_in("projects/p1/work-items/", work_item("b", "p1", 2, 45, "b edited"));
  replace_in("projects/p1/work-items/", work_item("c", "p1", 3, 46, "c edited"));
  plane::SyncOptions options = opts(false, true);
  options.overlap_ms = 0;
  options.max_refetch = 1;
  const plane::SyncSummary s = run(options);

  EXPECT_TRUE(item_details("p1").empty());
  const auto lists = item_lists("p1");
  ASSERT_EQ(lists.size(), 1u + 3u);  // the incremental page, then a backfill from the start
  EXPECT_EQ(query(lists[0], "order_by"), "-updated_at");
  EXPECT_EQ(query(lists[1], "order_by"), "created_at");
  EXPECT_EQ(lists[1].query.count("cursor"), 0u);
  EXPECT_EQ(sink.row(MirrorTable::Items, "b")["name"], "b edited");
  EXPECT_EQ(sink.row(MirrorTable::Items, "c")["name"], "c edited");
  EXPECT_EQ(s.backfill_projects, 1);
  EXPECT_EQ(s.incremental_projects, 2);
  std::vector<bool> p1_scans;
  for (const auto& sc : sink.scans) {
    if (sc.resource == "work_items:p1") p1_scans.push_back(sc.backfill);
  }
  EXPECT_EQ(p1_scans, (std::vector<bool>{false, true}));
  EXPECT_EQ(sink.states["work_items:p1"].cursor, "");
}

TEST_F(SyncEngineTest, AFromStartBackfillNeedsNoIdListing) {
  seed();
  const plane::SyncSummary s = run(opts(false, true));
  EXPECT_TRUE(item_lists("p1", "id,updated_at").empty());
  EXPECT_TRUE(item_lists("p2", "id,updated_at").empty());
  EXPECT_TRUE(sink.stale_checks.empty());
  EXPECT_EQ(s.list_pages, 20);
}

TEST_F(SyncEngineTest, AResumedBackfillIsReconciled) {
  seed();
  run();
  remove_from("projects/p1/work-items/", "b");
  sink.states["work_items:p1"].cursor = "2:2:0";  // a later backfill was interrupted there
  const plane::SyncSummary s = run(opts(false, true));
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_EQ(query(p1[0], "cursor"), "2:2:0");
  EXPECT_EQ(item_lists("p1", "id,updated_at").size(), 3u);
  EXPECT_EQ(item_details("p1"), (Ids{"b"}));
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "b"));
  EXPECT_EQ(s.gone, 1);
  // Even without the reconcile option a resumed scan reconciles its project: the pages it
  // skipped may hold rows deleted or edited since the interrupted run.
  remove_from("projects/p1/work-items/", "d");
  sink.states["work_items:p1"].cursor = "2:1:0";
  run();
  EXPECT_FALSE(item_lists("p1", "id,updated_at").empty());
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "d"));
}

// ---------------------------------------------------------------------------------------------
// Pages.

TEST_F(SyncEngineTest, PagesAreMirroredWhereTheServerHasThem) {
  seed();
  plane_.lists["pages/"] = json::array({object("w1", nullptr), object("w2", nullptr)});
  plane_.lists["projects/p1/pages/"] = json::array({object("pg1", "p1")});
  plane_.lists["projects/p2/pages/"] = json::array();
  plane_.lists["projects/px/pages/"] = json::array({object("pgx", "px")});
  const plane::SyncSummary s = run();
  EXPECT_TRUE(s.pages_available);
  EXPECT_EQ(s.pages, 3);
  EXPECT_TRUE(sink.availability_changes.empty());  // available was already the default
  EXPECT_EQ(sink.live_ids(MirrorTable::Pages), (Ids{"pg1", "w1", "w2"}));
  EXPECT_TRUE(sink.row(MirrorTable::Pages, "w1")["project_plane_id"].is_null());
  EXPECT_EQ(sink.row(MirrorTable::Pages, "pg1")["project_plane_id"], "p1");
  EXPECT_EQ(requests_to("projects/p1/pages/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p2/pages/").size(), 1u);
  EXPECT_EQ(requests_under("projects/px/"), 0);

  // A workspace page deleted: gone; project pages are another scope.
  remove_from("pages/", "w2");
  EXPECT_EQ(run().gone, 1);
  EXPECT_TRUE(sink.gone(MirrorTable::Pages, "w2"));
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "pg1"));
  remove_from("projects/p1/pages/", "pg1");
  EXPECT_EQ(run().gone, 1);
  EXPECT_TRUE(sink.gone(MirrorTable::Pages, "pg1"));
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "w1"));
}

TEST_F(SyncEngineTest, PagesListedWithoutContentAreReadOneByOneWhenNewOrChanged) {
  seed();
  plane_.lists["pages/"] = json::array({object("w1", nullptr), object("w2", nullptr), object("w3", nullptr)});
  plane_.lists["projects/p1/pages/"] = json::array();
  plane_.lists["projects/p2/pages/"] = json::array();
  // Like Plane Cloud: the list leaves the content out, the page's own GET has it.
  plane_.before = [this](const ParsedUrl& url) -> std::optional<plane::HttpResponse> {
    if (url.path.rfind("pages/", 0) != 0 || url.path == "pages/") return std::nullopt;
    const std::string id = url.path.substr(6, url.path.size() - 7);
    for (json obj : plane_.lists["pages/"]) {
      if (obj["id"] != id) continue;
      obj["description_html"] = "<p>content of " + id + "</p>";
      return fakes::response(200, obj.dump());
    }
    return fakes::response(404, R"({"detail": "Not found."})");
  };
  auto details = [this] { return static_cast<long>(requests_under("pages/") - requests_to("pages/").size()); };
  plane::SyncOptions options;
  options.content_fetches = 2;

  // Three new pages, two reads allowed: the third is written from the list, its content later.
  plane::SyncSummary s = run(options);
  EXPECT_EQ(s.pages, 3);
  EXPECT_EQ(s.page_details, 2);
  EXPECT_EQ(s.pages_waiting, 1);
  EXPECT_EQ(details(), 2);
  EXPECT_EQ(sink.live_ids(MirrorTable::Pages), (Ids{"w1", "w2", "w3"}));
  int with_content = 0;
  for (const std::string id : {"w1", "w2", "w3"}) {
    if (sink.row(MirrorTable::Pages, id)["raw"].contains("description_html")) ++with_content;
  }
  EXPECT_EQ(with_content, 2);

  // The next run reads the one that waited, and writes nothing else.
  s = run(options);
  EXPECT_EQ(s.page_details, 1);
  EXPECT_EQ(s.pages_waiting, 0);
  for (const std::string id : {"w1", "w2", "w3"}) {
    EXPECT_EQ(sink.row(MirrorTable::Pages, id)["raw"]["description_html"], "<p>content of " + id + "</p>");
  }
  EXPECT_EQ(sink.writes_to(MirrorTable::Pages).size(), 1u);

  // Unchanged pages are neither read nor written again.
  s = run(options);
  EXPECT_EQ(s.page_details, 0);
  EXPECT_EQ(details(), 0);
  EXPECT_TRUE(sink.writes_to(MirrorTable::Pages).empty());

  // One edited (a later updated_at): only it is read again.
  for (auto& obj : plane_.lists["pages/"]) {
    if (obj["id"] == "w2") obj["updated_at"] = at(5);
  }
  s = run(options);
  EXPECT_EQ(s.page_details, 1);
  EXPECT_EQ(requests_to("pages/w2/").size(), 1u);

  // A page deleted between its listing and its read is left for the next listing to settle.
  plane_.lists["pages/"].push_back(object("w4", nullptr));
  auto serve = plane_.before;
  plane_.before = [serve](const ParsedUrl& url) -> std::optional<plane::HttpResponse> {
    if (url.path == "pages/w4/") return fakes::response(404, R"({"detail": "Not found."})");
    return serve(url);
  };
  s = run(options);
  EXPECT_EQ(s.page_details, 0);
  EXPECT_FALSE(sink.live(MirrorTable::Pages, "w4"));
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "w1"));
}

TEST_F(SyncEngineTest, PagesNotFoundAreRecordedAndNotAskedAgainUnlessFull) {
  seed();
  plane::SyncSummary s = run();
  EXPECT_FALSE(s.pages_available);
  EXPECT_EQ(sink.availability_changes, (std::vector<std::pair<std::string, bool>>{{"pages", false}}));
  EXPECT_FALSE(sink.states["pages"].available);
  EXPECT_EQ(requests_to("pages/").size(), 1u);
  EXPECT_EQ(requests_ending("/pages/"), 0);

  // Not full: no pages request at all, even though the server would now answer.
  plane_.lists["pages/"] = json::array({object("w1", nullptr)});
  plane_.lists["projects/p1/pages/"] = json::array({object("pg1", "p1")});
  plane_.lists["projects/p2/pages/"] = json::array();
  s = run();
  EXPECT_FALSE(s.pages_available);
  EXPECT_EQ(requests_ending("pages/"), 0);
  EXPECT_TRUE(sink.availability_changes.empty());
  EXPECT_EQ(s.pages, 0);

  // Full: asked again, found, recorded and mirrored.
  s = run(opts(true, false));
  EXPECT_TRUE(s.pages_available);
  EXPECT_EQ(sink.availability_changes, (std::vector<std::pair<std::string, bool>>{{"pages", true}}));
  EXPECT_EQ(requests_to("projects/p1/pages/").size(), 1u);
  EXPECT_EQ(s.pages, 2);
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "pg1"));
}

TEST_F(SyncEngineTest, FullSyncOfAServerStillWithoutPagesChangesNothing) {
  seed();
  sink.states["pages"].available = false;
  const plane::SyncSummary s = run(opts(true, false));
  EXPECT_EQ(requests_to("pages/").size(), 1u);
  EXPECT_EQ(requests_ending("/pages/"), 0);
  EXPECT_TRUE(sink.availability_changes.empty());
  EXPECT_FALSE(s.pages_available);
}

TEST_F(SyncEngineTest, PagesOptionOffSkipsPages) {
  seed();
  plane_.lists["pages/"] = json::array({object("w1", nullptr)});
  plane::SyncOptions options;
  options.pages = false;
  const plane::SyncSummary s = run(options);
  EXPECT_EQ(requests_ending("pages/"), 0);
  EXPECT_EQ(std::count(sink.loads.begin(), sink.loads.end(), "pages"), 0);
  EXPECT_EQ(s.pages, 0);
}

// ---------------------------------------------------------------------------------------------
// Progress and summary.

TEST_F(SyncEngineTest, ProgressReportsPhasesAndCounters) {
  seed();
  // Pages listed with their content (as self-hosted Plane lists them): no page read one by one.
  json w1 = object("w1", nullptr), pg1 = object("pg1", "p1");
  w1["description_html"] = pg1["description_html"] = "<p>x</p>";
  plane_.lists["pages/"] = json::array({w1});
  plane_.lists["projects/p1/pages/"] = json::array({pg1});
  plane_.lists["projects/p2/pages/"] = json::array();
  const plane::SyncSummary s = run();

  std::vector<std::string> phases;
  long rows = 0;
  for (size_t i = 0; i < sink.applies.size(); ++i) {
    const plane::SyncProgress& p = sink.applies[i].progress;
    if (phases.empty() || phases.back() != p.phase) phases.push_back(p.phase);
    rows += static_cast<long>(sink.applies[i].rows.size());
    EXPECT_EQ(p.pages_done, static_cast<long>(i) + 1) << i;  // one apply per list page
    EXPECT_EQ(p.rows_done, rows) << i;
    EXPECT_GE(p.rows_expected, p.rows_done) << i;
  }
  EXPECT_EQ(phases, (std::vector<std::string>{"projects", "states", "labels", "cycles", "modules",
                                              "work_items", "states", "labels", "cycles", "modules",
                                              "work_items", "pages"}));
  ASSERT_FALSE(sink.applies.empty());
  EXPECT_EQ(sink.applies.front().progress.rows_expected, 3);  // the projects envelope's total
  // Totals: 3 projects + 2 × (3 + 1 + 2 + 1 + 1 + 1) + 7 work items + 2 pages, all read.
  EXPECT_EQ(sink.applies.back().progress.rows_expected, 30);
  EXPECT_EQ(sink.applies.back().progress.rows_done, 30);

  EXPECT_EQ(s.projects, 3);
  EXPECT_EQ(s.states, 6);
  EXPECT_EQ(s.labels, 2);
  EXPECT_EQ(s.cycles, 6);
  EXPECT_EQ(s.modules, 4);
  EXPECT_EQ(s.work_items, 7);
  EXPECT_EQ(s.pages, 2);
  EXPECT_EQ(s.list_pages, static_cast<long>(sink.applies.size()));
  EXPECT_EQ(s.list_pages, static_cast<long>(plane_.requests.size()));
  EXPECT_EQ(s.http.requests, static_cast<long>(transport_.sent.size()));
  EXPECT_EQ(s.http.retries, 0);
  EXPECT_TRUE(s.pages_available);
}

TEST_F(SyncEngineTest, RetriedRequestsShowInTheSummary) {
  seed();
  int faults = 1;
  plane_.before = [&faults](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
    if (r.path == "projects/p2/labels/" && faults > 0) {
      --faults;
      return fakes::response(502, "bad gateway");
    }
    return std::nullopt;
  };
  const plane::SyncSummary s = run();
  EXPECT_EQ(s.labels, 2);
  EXPECT_EQ(s.http.retries, 1);
  EXPECT_EQ(s.http.requests, 22);
  EXPECT_EQ(s.list_pages, 20);
}

// ---------------------------------------------------------------------------------------------
// What real workspaces do: projects the key cannot read, refused optional
// resources, servers without the work-items/ route, page sizes, bulk changes and cycle zones.

using plane::ErrorKind;
using plane::PlaneError;
using plane::ProjectAccess;
using Access = std::vector<std::pair<std::string, ProjectAccess>>;
using Availability = std::vector<std::pair<std::string, bool>>;

const char* const kNotAllowed = R"({"detail": "You do not have permission to perform this action."})";

class SyncRulesTest : public SyncEngineTest {
 protected:
  // seed() on a server with a pages API whose lists are empty.
  void seed_with_pages() {
    seed();
    plane_.lists["pages/"] = json::array();
    plane_.lists["projects/p1/pages/"] = json::array();
    plane_.lists["projects/p2/pages/"] = json::array();
  }
  json& project_object(const std::string& id) {
    for (auto& p : plane_.lists.at("projects/")) {
      if (p["id"] == id) return p;
    }
    throw std::runtime_error("no project " + id);
  }
  void set_member(const std::string& project, bool member) { project_object(project)["is_member"] = member; }
  // Every list of the project answers 403, as Plane answers a key whose user is not a member.
  void forbid_lists(const std::string& project) {
    for (const char* list : {"states/", "labels/", "cycles/", "archived-cycles/", "modules/",
                             "archived-modules/", "work-items/", "issues/", "pages/"}) {
      plane_.refuse("projects/" + project + "/" + list, 403, kNotAllowed);
    }
  }
  // The run's requests whose path contains `part`.
  long requests_containing(const std::string& part) const {
    return std::count_if(plane_.requests.begin(), plane_.requests.end(),
                         [&](const ParsedUrl& r) { return r.path.find(part) != std::string::npos; });
  }
  std::vector<ApplyCall> applies_from(plane::ChangeSource source) const {
    std::vector<ApplyCall> out;
    for (const auto& a : sink.applies) {
      if (a.source == source) out.push_back(a);
    }
    return out;
  }
  // A client and an engine of the test's own, for what run() does not show (the client afterwards).
  plane::PlaneClientConfig client_config(int per_page = 2) const {
    plane::PlaneClientConfig config;
    config.api_url = "https://api.plane.so";
    config.workspace_slug = "acme";
    config.per_page = per_page;
    config.max_attempts = 2;
    return config;
  }
  static plane::SyncOptions at_time(std::int64_t now_us) {
    plane::SyncOptions o;
    o.now_us = now_us;
    return o;
  }
};

constexpr std::int64_t kHourUs = 3600LL * 1'000'000;

// ------------------------------------------------------------------------- project access

TEST_F(SyncRulesTest, ANonMemberProjectIsRecordedAndNoneOfItsListsIsAsked) {
  seed();
  set_member("p1", true);
  set_member("p2", false);
  plane_.lists["pages/"] = json::array();
  plane_.lists["projects/p1/pages/"] = json::array();
  plane_.lists["projects/p2/pages/"] = json::array({object("pg2", "p2")});
  plane::SyncSummary s = run();

  EXPECT_EQ(requests_under("projects/p2/"), 0);  // not even its pages
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f"}));
  EXPECT_EQ(sink.access_changes, (Access{{"p1", ProjectAccess::Readable}, {"p2", ProjectAccess::NotMember}}));
  EXPECT_NE(sink.access_reasons["p2"].find("not a member"), std::string::npos) << sink.access_reasons["p2"];
  ASSERT_EQ(s.unreadable_projects.size(), 1u);
  EXPECT_EQ(s.unreadable_projects[0].id, "p2");
  EXPECT_EQ(s.unreadable_projects[0].name, "p2");
  EXPECT_EQ(s.unreadable_projects[0].access, ProjectAccess::NotMember);
  EXPECT_EQ(s.backfill_projects, 1);
  EXPECT_EQ(sink.row(MirrorTable::Projects, "p2")["is_member"], false);  // the project itself is mirrored

  // Nothing changed: nothing recorded, still not asked.
  s = run();
  EXPECT_TRUE(sink.access_changes.empty());
  EXPECT_EQ(requests_under("projects/p2/"), 0);
  ASSERT_EQ(s.unreadable_projects.size(), 1u);
  EXPECT_EQ(s.unreadable_projects[0].access, ProjectAccess::NotMember);
}

TEST_F(SyncRulesTest, AFullSyncTriesANonMemberProject) {
  seed();
  set_member("p2", false);
  run();
  ASSERT_EQ(sink.access["p2"], ProjectAccess::NotMember);

  // Its lists answer (is_member is per user and may lag): read, and recorded readable.
  plane::SyncSummary s = run(opts(true, false));
  EXPECT_EQ(requests_to("projects/p2/states/").size(), 2u);
  EXPECT_TRUE(sink.live(MirrorTable::Items, "z"));
  EXPECT_EQ(sink.access_changes, (Access{{"p2", ProjectAccess::Readable}}));
  EXPECT_TRUE(s.unreadable_projects.empty());

  // A full sync whose first request for it answers 403: not a member after all; the run goes on.
  forbid_lists("p2");
  s = run(opts(true, false));
  EXPECT_EQ(requests_under("projects/p2/"), 1);
  EXPECT_EQ(sink.access_changes, (Access{{"p2", ProjectAccess::NotMember}}));
  ASSERT_EQ(s.unreadable_projects.size(), 1u);
  EXPECT_EQ(s.unreadable_projects[0].access, ProjectAccess::NotMember);
  EXPECT_TRUE(sink.live(MirrorTable::Items, "z"));  // what it held of it stays
  EXPECT_TRUE(sink.gone_marks.empty());
  EXPECT_EQ(s.backfill_projects, 1);

  s = run(opts(true, false));
  EXPECT_TRUE(sink.access_changes.empty());  // unchanged: not recorded again
  EXPECT_EQ(requests_under("projects/p2/"), 1);
}

TEST_F(SyncRulesTest, AProjectWhoseListsAnswer403IsForbiddenAndTheRunGoesOn) {
  seed();
  run();
  // p1's lists now answer 403 (the key's user was removed, or p1 was deleted meanwhile).
  forbid_lists("p1");
  plane_.lists["projects/p2/work-items/"].push_back(work_item("y", "p2", 2, 6));
  credentials_.refresh_result = true;
  plane::SyncSummary s = run();

  EXPECT_EQ(requests_under("projects/p1/"), 1);  // its first list, then nothing more of it
  EXPECT_EQ(requests_to("projects/p1/states/").size(), 1u);
  EXPECT_EQ(credentials_.refresh_calls, 0);      // not a credential failure
  EXPECT_EQ(sink.access_changes, (Access{{"p1", ProjectAccess::Forbidden}}));
  EXPECT_NE(sink.access_reasons["p1"].find("403"), std::string::npos) << sink.access_reasons["p1"];
  ASSERT_EQ(s.unreadable_projects.size(), 1u);
  EXPECT_EQ(s.unreadable_projects[0].id, "p1");
  EXPECT_EQ(s.unreadable_projects[0].access, ProjectAccess::Forbidden);
  EXPECT_TRUE(sink.live(MirrorTable::Items, "y"));  // p2 after it was synced
  // Nothing of p1 is judged gone from lists it could not read.
  EXPECT_TRUE(sink.gone_marks.empty());
  EXPECT_EQ(s.gone, 0);
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f", "y", "z"}));
  EXPECT_TRUE(sink.live(MirrorTable::States, "p1-s3"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));

  // Not asked again until a full sync; nothing recorded anew.
  s = run();
  EXPECT_EQ(requests_under("projects/p1/"), 0);
  EXPECT_TRUE(sink.access_changes.empty());
  ASSERT_EQ(s.unreadable_projects.size(), 1u);
  EXPECT_EQ(s.unreadable_projects[0].access, ProjectAccess::Forbidden);

  // A full sync asks again; readable again, it is recorded so.
  plane_.refusals.clear();
  s = run(opts(true, false));
  EXPECT_EQ(requests_to("projects/p1/states/").size(), 2u);
  EXPECT_EQ(sink.access_changes, (Access{{"p1", ProjectAccess::Readable}}));
  EXPECT_TRUE(s.unreadable_projects.empty());
}

TEST_F(SyncRulesTest, A403LaterInAProjectAlsoMakesItForbidden) {
  seed();
  run();
  plane_.refuse("projects/p2/labels/", 403, kNotAllowed);  // deleted between its states and labels
  const plane::SyncSummary s = run();
  EXPECT_EQ(sink.access_changes, (Access{{"p2", ProjectAccess::Forbidden}}));
  EXPECT_EQ(requests_to("projects/p2/cycles/").size(), 0u);
  EXPECT_TRUE(sink.live(MirrorTable::Labels, "p2-l1"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "z"));
  EXPECT_EQ(s.unreadable_projects.size(), 1u);
}

TEST_F(SyncRulesTest, TheWorkspaceProjectListRefusedIsACredentialFailure) {
  seed();
  // A wrong or expired API key is 403 on every endpoint: on the workspace's project list it can
  // only be the credential. Never renewed for a 403.
  plane_.refuse("projects/", 403, R"({"detail": "Given API token is not valid"})");
  credentials_.refresh_result = true;
  PlaneError e = fakes::expect_error([&] { run(); }, ErrorKind::Auth);
  EXPECT_EQ(e.http_status(), 403);
  EXPECT_NE(std::string(e.what()).find("Given API token is not valid"), std::string::npos) << e.what();
  EXPECT_EQ(credentials_.refresh_calls, 0);
  EXPECT_EQ(plane_.requests.size(), 1u);
  EXPECT_TRUE(sink.applies.empty());
  EXPECT_TRUE(sink.access_changes.empty());

  // A 401 is the credential too: renewed once, then an Auth error.
  plane_.refusals.clear();
  plane_.refuse("projects/", 401, R"({"detail": "Authentication credentials were not provided."})");
  e = fakes::expect_error([&] { run(); }, ErrorKind::Auth);
  EXPECT_EQ(e.http_status(), 401);
  EXPECT_EQ(credentials_.refresh_calls, 1);
  EXPECT_EQ(plane_.requests.size(), 2u);
  EXPECT_TRUE(sink.applies.empty());
}

// ------------------------------------------------------------------------- optional resources

class OptionalRefusalTest : public SyncRulesTest, public ::testing::WithParamInterface<long> {
 protected:
  void refuse(const std::string& path) { plane_.refuse(path, GetParam(), R"({"detail": "refused here"})"); }
  void expect_reason(const std::string& reason) const {
    EXPECT_NE(reason.find("HTTP " + std::to_string(GetParam())), std::string::npos) << reason;
    EXPECT_NE(reason.find("refused here"), std::string::npos) << reason;
  }
};

TEST_P(OptionalRefusalTest, ARefusedArchivedListIsRecordedOnceAndItsRowsAreKept) {
  seed_with_pages();
  run();
  ASSERT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));
  refuse("projects/p1/archived-cycles/");
  refuse("projects/p2/archived-cycles/");
  plane::SyncSummary s = run();

  EXPECT_EQ(sink.availability_changes, (Availability{{"archived_cycles", false}}));
  expect_reason(sink.availability_reasons["archived_cycles"]);
  ASSERT_EQ(s.unavailable.count("archived_cycles"), 1u);
  expect_reason(s.unavailable["archived_cycles"]);
  EXPECT_EQ(requests_to("projects/p1/archived-cycles/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p2/archived-cycles/").size(), 0u);  // refused once: refused for all
  // Plane's cycle detail hides archived cycles too: their absence proves nothing, and they stay.
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p2-c0"));
  EXPECT_TRUE(sink.gone_marks.empty());
  EXPECT_EQ(s.cycles, 4);
  EXPECT_EQ(requests_to("projects/p2/archived-modules/").size(), 1u);  // other resources go on
  EXPECT_EQ(s.unavailable.size(), 1u);

  // Not asked again, not recorded again, still named in the summary.
  s = run();
  EXPECT_EQ(requests_containing("/archived-cycles/"), 0);
  EXPECT_TRUE(sink.availability_changes.empty());
  EXPECT_EQ(s.unavailable.count("archived_cycles"), 1u);
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));
  EXPECT_TRUE(sink.gone_marks.empty());

  // A full sync asks again; answered, it is recorded available.
  plane_.refusals.clear();
  s = run(opts(true, false));
  EXPECT_EQ(requests_to("projects/p1/archived-cycles/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p2/archived-cycles/").size(), 1u);
  EXPECT_EQ(sink.availability_changes, (Availability{{"archived_cycles", true}}));
  EXPECT_TRUE(s.unavailable.empty());
}

TEST_P(OptionalRefusalTest, ARefusedArchivedModuleListIsRecordedWithItsReason) {
  seed_with_pages();
  run();
  refuse("projects/p1/archived-modules/");
  const plane::SyncSummary s = run();
  EXPECT_EQ(sink.availability_changes, (Availability{{"archived_modules", false}}));
  expect_reason(sink.availability_reasons["archived_modules"]);
  EXPECT_EQ(s.unavailable.size(), 1u);
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-m0"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p2-m0"));
  EXPECT_TRUE(sink.gone_marks.empty());
}

TEST_P(OptionalRefusalTest, RefusedWorkspacePagesAreRecordedOnceAndTheirRowsKept) {
  seed();
  plane_.lists["pages/"] = json::array({object("w1", nullptr)});
  plane_.lists["projects/p1/pages/"] = json::array({object("pg1", "p1")});
  plane_.lists["projects/p2/pages/"] = json::array();
  run();
  ASSERT_TRUE(sink.live(MirrorTable::Pages, "w1"));
  refuse("pages/");
  plane::SyncSummary s = run();
  EXPECT_FALSE(s.pages_available);
  EXPECT_EQ(sink.availability_changes, (Availability{{"pages", false}}));
  expect_reason(sink.availability_reasons["pages"]);
  expect_reason(s.unavailable["pages"]);
  EXPECT_EQ(requests_ending("/pages/"), 0);  // no project's pages either
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "w1"));
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "pg1"));
  EXPECT_TRUE(sink.gone_marks.empty());

  s = run();
  EXPECT_EQ(requests_ending("pages/"), 0);
  EXPECT_TRUE(sink.availability_changes.empty());
  EXPECT_EQ(s.unavailable.count("pages"), 1u);
}

TEST_P(OptionalRefusalTest, RefusedProjectPagesAreRecordedOnceForEveryProject) {
  seed();
  plane_.lists["pages/"] = json::array({object("w1", nullptr), object("w2", nullptr)});
  plane_.lists["projects/p1/pages/"] = json::array({object("pg1", "p1")});
  plane_.lists["projects/p2/pages/"] = json::array({object("pg2", "p2")});
  run();
  refuse("projects/p1/pages/");
  remove_from("pages/", "w2");
  plane::SyncSummary s = run();
  EXPECT_TRUE(s.pages_available);  // the workspace's pages still answer
  EXPECT_EQ(sink.availability_changes, (Availability{{"project_pages", false}}));
  expect_reason(s.unavailable["project_pages"]);
  EXPECT_EQ(requests_to("projects/p2/pages/").size(), 0u);
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "pg1"));
  EXPECT_TRUE(sink.live(MirrorTable::Pages, "pg2"));
  EXPECT_TRUE(sink.gone(MirrorTable::Pages, "w2"));  // workspace pages are still settled
  EXPECT_EQ(sink.gone_marks, (std::vector<Ids>{{"w2"}}));

  s = run();
  EXPECT_EQ(requests_ending("/pages/"), 0);
  EXPECT_EQ(requests_to("pages/").size(), 1u);
  EXPECT_TRUE(sink.availability_changes.empty());
}

INSTANTIATE_TEST_SUITE_P(Statuses, OptionalRefusalTest, ::testing::Values(403L, 400L, 404L),
                         [](const ::testing::TestParamInfo<long>& info) {
                           return "Http" + std::to_string(info.param);
                         });

TEST_F(SyncRulesTest, AnOptionalListFailingWithAnotherStatusFailsTheRun) {
  seed_with_pages();
  run();
  plane_.refuse("projects/p1/archived-cycles/", 409, R"({"detail": "conflict"})");
  fakes::expect_error([&] { run(); }, ErrorKind::Http);
  EXPECT_TRUE(sink.availability_changes.empty());
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));
}

// ------------------------------------------------------------------------- gone, confirmed

TEST_F(SyncRulesTest, ARowMissingFromAListIsConfirmedByItsDetail) {
  seed();
  run();
  remove_from("projects/p1/states/", "p1-s3");  // deleted: its detail answers 404
  json renamed = object("p1-l1", "p1");
  renamed["name"] = "renamed";
  renamed["updated_at"] = at(2);
  replace_in("projects/p1/labels/", renamed);
  json stashed;
  plane_.before = [&](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
    json& labels = plane_.lists.at("projects/p1/labels/");
    if (r.path == "projects/p1/labels/") {  // skipped by the listing (tied sort keys)
      stashed = labels;
      labels = json::array();
    } else if (r.path == "projects/p1/labels/p1-l1/") {
      labels = stashed;  // … but still there
    } else if (r.path == "projects/p2/modules/p2-m1/") {
      return fakes::response(403, kNotAllowed);  // no longer visible to the key
    } else if (r.path == "projects/p2/modules/") {
      json& modules = plane_.lists.at("projects/p2/modules/");
      modules = json::array();
    }
    return std::nullopt;
  };
  const plane::SyncSummary s = run();

  EXPECT_EQ(requests_to("projects/p1/states/p1-s3/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p1/labels/p1-l1/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p2/modules/p2-m1/").size(), 1u);
  EXPECT_TRUE(sink.gone(MirrorTable::States, "p1-s3"));   // 404
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "p2-m1"));    // 403
  EXPECT_TRUE(sink.live(MirrorTable::Labels, "p1-l1"));   // 200: upserted
  EXPECT_EQ(sink.row(MirrorTable::Labels, "p1-l1")["name"], "renamed");
  EXPECT_EQ(sink.gone_marks, (std::vector<Ids>{{"p1-s3"}, {"p2-m1"}}));
  EXPECT_EQ(s.gone, 2);
  EXPECT_EQ(s.refetched, 1);
}

TEST_F(SyncRulesTest, BeyondMaxRefetchASecondListingOfEveryPathConfirms) {
  seed();
  run();
  remove_from("projects/p1/cycles/", "p1-c1");           // deleted
  remove_from("projects/p1/archived-cycles/", "p1-c0");  // deleted
  json stashed;
  plane_.before = [&](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
    json& cycles = plane_.lists.at("projects/p1/cycles/");
    if (r.path == "projects/p1/cycles/" && query(r, "fields").empty()) {
      stashed = cycles;  // p1-c2 is skipped by the first listing …
      cycles = json::array();
    } else if (r.path == "projects/p1/cycles/" && query(r, "fields") == "id") {
      cycles = stashed;  // … and returned by the second
    }
    return std::nullopt;
  };
  plane::SyncOptions options;
  options.max_refetch = 2;  // three candidates: c0, c1, c2
  const plane::SyncSummary s = run(options);

  EXPECT_EQ(requests_containing("/cycles/p1-"), 0);  // no detail GETs
  EXPECT_EQ(requests_to("projects/p1/cycles/").size(), 2u);
  EXPECT_EQ(query(requests_to("projects/p1/archived-cycles/").at(1), "fields"), "id");
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "p1-c0"));
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "p1-c1"));
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c2"));
  EXPECT_EQ(s.gone, 2);
  EXPECT_EQ(s.refetched, 0);
}

TEST_F(SyncRulesTest, ASecondListingWithAPathRefusedMeanwhileJudgesNothing) {
  seed();
  run();
  ASSERT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));  // an archived cycle
  // The first listing of the archived cycles skips p1-c0 (it still exists); by the second listing
  // the key has lost the archived list (403). Its absence from both proves nothing.
  int archived_requests = 0;
  plane_.before = [&](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
    if (r.path != "projects/p1/archived-cycles/") return std::nullopt;
    if (++archived_requests == 1) {
      return fakes::response(200, R"({"results": [], "next_cursor": "2:1:0", "next_page_results": false,
                                      "total_results": 0, "count": 0})");
    }
    return fakes::response(403, R"({"detail": "You do not have permission to perform this action."})");
  };
  plane::SyncOptions options;
  options.max_refetch = 0;  // a second listing instead of detail GETs
  const plane::SyncSummary s = run(options);
  plane_.before = nullptr;
  EXPECT_EQ(archived_requests, 2);
  EXPECT_TRUE(sink.live(MirrorTable::Items, "p1-c0"));
  EXPECT_EQ(s.gone, 0);
}

TEST_F(SyncRulesTest, AProjectGoneTakesItsRowsAlong) {
  seed();
  run();
  remove_from("projects/", "p2");
  const plane::SyncSummary s = run();
  EXPECT_EQ(requests_under("projects/p2/"), 1);  // its detail GET (404), none of its lists
  EXPECT_EQ(requests_to("projects/p2/").size(), 1u);
  EXPECT_EQ(sink.gone_marks, (std::vector<Ids>{{"p2"}}));
  EXPECT_EQ(s.gone, 1);
  EXPECT_TRUE(sink.gone(MirrorTable::Projects, "p2"));
  for (const auto& [table, id] : std::vector<std::pair<MirrorTable, std::string>>{
           {MirrorTable::Items, "z"}, {MirrorTable::States, "p2-s1"}, {MirrorTable::Labels, "p2-l1"},
           {MirrorTable::Items, "p2-c0"}, {MirrorTable::Items, "p2-m1"}}) {
    EXPECT_TRUE(sink.gone(table, id)) << id;
  }
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f"}));
  EXPECT_TRUE(sink.live(MirrorTable::States, "p1-s1"));
}

// ------------------------------------------------------------------------- the work-items/ route

TEST_F(SyncRulesTest, AServerWithoutTheWorkItemsRouteIsReadThroughIssuesAndRemembered) {
  seed();
  plane_.work_items_route = false;  // Community Edition before v1.1.0
  plane::SyncSummary s = run();
  EXPECT_EQ(requests_to("projects/p1/work-items/").size(), 1u);  // the 404, once
  EXPECT_EQ(requests_to("projects/p2/work-items/").size(), 0u);
  EXPECT_EQ(requests_to("projects/p1/issues/").size(), 3u);
  EXPECT_EQ(requests_to("projects/p2/issues/").size(), 1u);
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f", "z"}));
  EXPECT_EQ(s.work_items_segment, "issues");
  EXPECT_EQ(sink.profile.work_items_segment, "issues");
  EXPECT_EQ(sink.profile_saves, 1);

  // The next run starts on issues/: also for the detail GETs of reconciliation.
  remove_from("projects/p1/work-items/", "c");
  s = run(opts(false, true));
  EXPECT_EQ(requests_containing("/work-items/"), 0);
  EXPECT_EQ(requests_to("projects/p1/issues/c/").size(), 1u);
  EXPECT_TRUE(sink.gone(MirrorTable::Items, "c"));
  EXPECT_EQ(sink.profile_saves, 0);
  EXPECT_EQ(s.work_items_segment, "issues");
}

TEST_F(SyncRulesTest, AResumedBackfillOnAServerWithoutTheWorkItemsRouteSwitchesToo) {
  seed();
  plane_.work_items_route = false;
  // An earlier run switched to issues/ and saved this cursor, but stopped before it could save
  // the profile: the resumed scan's 404 must not fail every run from now on.
  sink.states["work_items:p1"].cursor = "2:1:0";
  const plane::SyncSummary s = run();
  const auto issues = requests_to("projects/p1/issues/");
  ASSERT_FALSE(issues.empty());
  EXPECT_EQ(query(issues[0], "cursor"), "2:1:0");
  // A resumed scan reconciles its project: the rows before the cursor are fetched, on issues/ too.
  EXPECT_EQ(requests_to("projects/p1/issues/a/").size(), 1u);
  EXPECT_EQ(requests_containing("/work-items/"), 1);
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f", "z"}));
  EXPECT_EQ(sink.profile.work_items_segment, "issues");
  EXPECT_EQ(s.work_items_segment, "issues");
}

TEST_F(SyncRulesTest, ANotFoundOnBothRoutesIsNotTakenForAnOldServer) {
  seed();
  plane_.lists.erase("projects/p2/work-items/");  // p2 vanished after its other lists were read
  plane::PlaneClient client(client_config(), transport_, budget_, credentials_, waiter_);
  plane::SyncOptions options = at_time(kNow);
  options.refresh_interval_ms = 0;
  plane::SyncEngine engine(client, sink, options);
  PlaneError e = fakes::expect_error([&] { engine.run(); }, ErrorKind::Http);
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_EQ(requests_to("projects/p2/work-items/").size(), 1u);
  EXPECT_EQ(requests_to("projects/p2/issues/").size(), 1u);
  EXPECT_EQ(client.work_items_segment(), "work-items");  // no switch kept
  EXPECT_EQ(sink.profile_saves, 0);
  EXPECT_TRUE(sink.gone_marks.empty());
  EXPECT_EQ(sink.live_ids(MirrorTable::Items, "issue"), (Ids{"a", "b", "c", "d", "e", "f"}));
}

// ------------------------------------------------------------------------- page size

TEST_F(SyncRulesTest, APageSizeRefusedWithItsLimitIsLoweredAndNoRowIsSkipped) {
  seed();
  json many = json::array();
  Ids expected;
  for (int i = 0; i < 205; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "w%03d", i);
    many.push_back(work_item(id, "p1", i + 1, i + 1));
    expected.push_back(id);
  }
  plane_.lists["projects/p1/work-items/"] = many;
  plane_.max_per_page = 100;  // "Invalid per_page value. Cannot exceed 100."
  const plane::SyncSummary s = run({}, 1000);

  const auto projects = requests_to("projects/");
  ASSERT_EQ(projects.size(), 2u);
  EXPECT_EQ(query(projects[0], "per_page"), "1000");
  EXPECT_EQ(query(projects[1], "per_page"), "100");
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 3u);
  for (const auto& r : p1) EXPECT_EQ(query(r, "per_page"), "100");
  EXPECT_EQ(query(p1[1], "cursor"), "100:1:0");
  EXPECT_EQ(query(p1[2], "cursor"), "100:2:0");
  Ids read;
  for (const auto& a : sink.applies_for("work_items:p1")) {
    for (const auto& id : a.ids()) read.push_back(id);
  }
  EXPECT_EQ(read, expected);  // every row once, in order
  EXPECT_EQ(s.work_items, 206);
  EXPECT_EQ(s.page_size, 100);
  EXPECT_EQ(sink.profile.page_size, 100);
  EXPECT_EQ(s.http.requests, s.list_pages + 1 + 1);  // the refusal and the pages 404
}

TEST_F(SyncRulesTest, AServerThatServesFewerRowsThanAskedIsFollowed) {
  seed();
  plane_.max_per_page = 4;
  plane_.refuse_page_size = false;  // silently serves 4 rows a page
  const plane::SyncSummary s = run({}, 5);
  const auto p1 = item_lists("p1");
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_EQ(query(p1[0], "per_page"), "5");
  EXPECT_EQ(query(p1[1], "per_page"), "4");
  EXPECT_EQ(query(p1[1], "cursor"), "4:1:0");  // offset 4: after the rows served, not 5
  const auto pages = sink.applies_for("work_items:p1");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0].ids(), (Ids{"a", "b", "c", "d"}));
  EXPECT_EQ(pages[0].next_cursor, "4:1:0");
  EXPECT_EQ(pages[1].ids(), (Ids{"e", "f"}));
  EXPECT_EQ(query(item_lists("p2").at(0), "per_page"), "4");
  EXPECT_EQ(s.page_size, 4);
  EXPECT_EQ(sink.profile.page_size, 4);
  EXPECT_EQ(sink.profile_saves, 1);
}

TEST_F(SyncRulesTest, TheLearnedPageSizeIsSavedAndASavedCursorRebased) {
  seed();
  plane_.max_per_page = 2;
  sink.states["work_items:p1"].cursor = "5:1:0";  // saved at 5 rows a page: offset 5
  plane::SyncSummary s = run({}, 5);
  const auto p1 = item_lists("p1");
  ASSERT_FALSE(p1.empty());
  EXPECT_EQ(query(p1[0], "cursor"), "2:2:0");  // offset 4: re-reads e rather than skip it
  EXPECT_EQ(query(p1[0], "per_page"), "2");
  EXPECT_EQ(sink.applies_for("work_items:p1").at(0).ids(), (Ids{"e", "f"}));
  EXPECT_EQ(sink.profile.page_size, 2);
  EXPECT_EQ(sink.profile.work_items_segment, "work-items");
  EXPECT_EQ(sink.profile_saves, 1);
  EXPECT_EQ(s.page_size, 2);

  // The next run asks with the saved size (the Postgres layer passes it): nothing new to save.
  s = run({}, 2);
  EXPECT_EQ(sink.profile_saves, 0);
  EXPECT_EQ(plane_.requests.size(), static_cast<size_t>(s.http.requests));  // no refusal
}

// ------------------------------------------------------------------------- drift refresh

TEST_F(SyncEngineTest, TheFakeSinksGuardLetsEqualVersionsThroughButNeverOlderOnes) {
  // The refresh tests rely on it, as on the Postgres upsert's WHERE clause.
  json row = plane::map_work_item(work_item("a", "p1", 1, 10, "first"), "p1");
  sink.apply_page(MirrorTable::Items, plane::MirrorRows(json::array({row})), "", "", {}, plane::ChangeSource::Sync);
  row = plane::map_work_item(work_item("a", "p1", 1, 10, "same version"), "p1");
  sink.apply_page(MirrorTable::Items, plane::MirrorRows(json::array({row})), "", "", {}, plane::ChangeSource::Refresh);
  EXPECT_EQ(sink.row(MirrorTable::Items, "a")["name"], "same version");
  row = plane::map_work_item(work_item("a", "p1", 1, 9, "older"), "p1");
  sink.apply_page(MirrorTable::Items, plane::MirrorRows(json::array({row})), "", "", {}, plane::ChangeSource::Sync);
  EXPECT_EQ(sink.row(MirrorTable::Items, "a")["name"], "same version");
}

TEST_F(SyncRulesTest, TheDriftRefreshRereadsDueProjectsAndAppliesBulkChanges) {
  seed();
  refresh_ = true;
  run();  // the first backfill read every row: it completes the refresh
  EXPECT_EQ(sink.refreshes_completed, (std::vector<std::string>{"refresh:p1", "refresh:p2"}));
  EXPECT_TRUE(applies_from(plane::ChangeSource::Refresh).empty());

  // Plane's automation moves b to another state in bulk: updated_at stays, no webhook.
  json b = work_item("b", "p1", 2, 20);
  b["state"] = "p1-s2";
  replace_in("projects/p1/work-items/", b);

  // An hour later: not due, nothing re-read.
  plane::SyncSummary s = run(at_time(kNow + kHourUs));
  for (const auto& r : item_lists("p1")) EXPECT_EQ(query(r, "order_by"), "-updated_at");
  EXPECT_TRUE(applies_from(plane::ChangeSource::Refresh).empty());
  EXPECT_EQ(s.refreshed, 0);
  EXPECT_EQ(sink.row(MirrorTable::Items, "b")["state_plane_id"], "p1-s1");

  // A day later: due. Every row re-read oldest first and applied, as a refresh.
  s = run(at_time(kNow + 25 * kHourUs));
  std::vector<ParsedUrl> refresh_lists;
  for (const auto& r : item_lists("p1")) {
    if (query(r, "order_by") == "created_at") refresh_lists.push_back(r);
  }
  ASSERT_EQ(refresh_lists.size(), 3u);
  const auto refreshed = applies_from(plane::ChangeSource::Refresh);
  ASSERT_EQ(refreshed.size(), 4u);
  EXPECT_EQ(refreshed[0].resource, "refresh:p1");
  EXPECT_EQ(refreshed[0].ids(), (Ids{"a", "b"}));
  EXPECT_EQ(refreshed[0].next_cursor, "2:1:0");
  EXPECT_EQ(refreshed[2].next_cursor, "");
  EXPECT_EQ(refreshed[3].resource, "refresh:p2");
  EXPECT_EQ(refreshed[0].progress.phase, "refresh");
  EXPECT_EQ(sink.row(MirrorTable::Items, "b")["state_plane_id"], "p1-s2");  // same updated_at, applied
  EXPECT_EQ(s.refreshed, 7);
  EXPECT_EQ(sink.refreshes_completed, (std::vector<std::string>{"refresh:p1", "refresh:p2"}));
  EXPECT_EQ(sink.states["refresh:p1"].last_full_us, kNow + 25 * kHourUs);

  // Refreshed an hour ago: not due again.
  s = run(at_time(kNow + 26 * kHourUs));
  EXPECT_EQ(s.refreshed, 0);
  EXPECT_TRUE(sink.refreshes_completed.empty());
}

TEST_F(SyncRulesTest, TheRefreshReadsAtMostRefreshPagesPerRunAndResumes) {
  seed();
  refresh_ = true;
  run();
  plane::SyncOptions options = at_time(kNow + 25 * kHourUs);
  options.refresh_pages = 2;
  plane::SyncSummary s = run(options);
  auto refreshed = applies_from(plane::ChangeSource::Refresh);
  ASSERT_EQ(refreshed.size(), 2u);  // p1's first two pages; none of p2
  EXPECT_EQ(refreshed[1].ids(), (Ids{"c", "d"}));
  EXPECT_EQ(sink.states["refresh:p1"].cursor, "2:2:0");
  EXPECT_TRUE(sink.refreshes_completed.empty());
  EXPECT_EQ(s.refreshed, 4);
  EXPECT_EQ(std::count(sink.loads.begin(), sink.loads.end(), "refresh:p2"), 0);

  options.now_us += 60'000'000;
  s = run(options);
  refreshed = applies_from(plane::ChangeSource::Refresh);
  ASSERT_EQ(refreshed.size(), 2u);
  EXPECT_EQ(refreshed[0].resource, "refresh:p1");
  EXPECT_EQ(refreshed[0].ids(), (Ids{"e", "f"}));  // resumed where it stopped
  EXPECT_EQ(refreshed[1].resource, "refresh:p2");
  EXPECT_EQ(sink.refreshes_completed, (std::vector<std::string>{"refresh:p1", "refresh:p2"}));
  EXPECT_EQ(sink.states["refresh:p1"].cursor, "");
  EXPECT_EQ(s.refreshed, 3);
}

TEST_F(SyncRulesTest, AFromStartBackfillCompletesTheRefresh) {
  seed();
  refresh_ = true;
  run();
  sink.states["refresh:p1"].cursor = "2:1:0";  // a refresh half done
  plane::SyncOptions options = opts(true, false);
  options.now_us = kNow + 25 * kHourUs;
  const plane::SyncSummary s = run(options);
  EXPECT_TRUE(applies_from(plane::ChangeSource::Refresh).empty());
  EXPECT_EQ(item_lists("p1").size(), 3u);  // the backfill only
  EXPECT_EQ(s.refreshed, 0);
  EXPECT_EQ(sink.refreshes_completed, (std::vector<std::string>{"refresh:p1", "refresh:p2"}));
  EXPECT_EQ(sink.states["refresh:p1"].cursor, "");
  EXPECT_EQ(sink.states["refresh:p1"].last_full_us, kNow + 25 * kHourUs);
}

TEST_F(SyncRulesTest, ARefreshIntervalOfZeroNeverRefreshes) {
  seed();
  refresh_ = true;
  run();
  plane::SyncOptions options = at_time(kNow + 1000 * kHourUs);
  options.refresh_interval_ms = 0;
  const plane::SyncSummary s = run(options);
  EXPECT_TRUE(applies_from(plane::ChangeSource::Refresh).empty());
  EXPECT_EQ(s.refreshed, 0);
  EXPECT_EQ(std::count(sink.loads.begin(), sink.loads.end(), "refresh:p1"), 0);
}

// ------------------------------------------------------------------------- cycle calendar days

TEST_F(SyncRulesTest, CycleDaysAreReadInTheCyclesZoneElseTheProjectsElseAsRendered) {
  seed();
  project_object("p1")["timezone"] = "Asia/Kolkata";
  // Stored at 00:00:01 and 23:59 local, rendered in UTC (the key owner's zone): a day early.
  json in_project_zone = object("p1-c1", "p1");
  in_project_zone["start_date"] = "2026-03-01T18:30:01Z";
  in_project_zone["end_date"] = "2026-03-08T18:29:00Z";
  json own_zone = object("p1-c2", "p1");
  own_zone["timezone"] = "America/Los_Angeles";
  own_zone["start_date"] = "2026-03-02T08:00:01Z";
  own_zone["end_date"] = "2026-03-09T07:59:00Z";
  plane_.lists["projects/p1/cycles/"] = json::array({in_project_zone, own_zone});
  json no_zone = object("p2-c1", "p2");  // p2 has no timezone: the rendered day is kept
  no_zone["start_date"] = "2026-03-02T00:00:01+05:30";
  no_zone["end_date"] = "2026-03-08T23:59:00+05:30";
  plane_.lists["projects/p2/cycles/"] = json::array({no_zone});
  fakes::FakeZones zones;
  plane::SyncOptions options;
  options.zones = &zones;
  run(options);

  for (const std::string id : {"p1-c1", "p1-c2", "p2-c1"}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(sink.row(MirrorTable::Items, id)["start_date"], "2026-03-02");
    EXPECT_EQ(sink.row(MirrorTable::Items, id)["target_date"], "2026-03-08");
  }
  EXPECT_EQ(sink.row(MirrorTable::Items, "p1-c1")["starts_at"], "2026-03-01T18:30:01.000000Z");
  EXPECT_EQ(sink.row(MirrorTable::Items, "p2-c1")["starts_at"], "2026-03-01T18:30:01.000000Z");
  EXPECT_EQ(std::count(zones.asked.begin(), zones.asked.end(), "Asia/Kolkata"), 2);
  EXPECT_EQ(std::count(zones.asked.begin(), zones.asked.end(), "America/Los_Angeles"), 2);
  EXPECT_EQ(zones.asked.size(), 4u);
}

}  // namespace

namespace {

TEST_F(SyncEngineTest, CurrentCycleAndOpenModuleMembershipsAreListedPastOnesOnlyByAFullSync) {
  seed();
  memberships_ = true;
  // p1-c1 ended long ago; p1-c2 runs now; p1-m1 is open (status unset).
  replace_in("projects/p1/cycles/", json{{"id", "p1-c1"}, {"name", "old"}, {"project", "p1"},
                                         {"created_at", at(0)}, {"updated_at", at(1)}, {"archived_at", nullptr},
                                         {"start_date", at(0)}, {"end_date", at(10)}});
  replace_in("projects/p1/cycles/", json{{"id", "p1-c2"}, {"name", "now"}, {"project", "p1"},
                                         {"created_at", at(0)}, {"updated_at", at(1)}, {"archived_at", nullptr},
                                         {"start_date", at(99'000)}, {"end_date", at(101'000)}});
  plane_.lists["projects/p1/cycles/p1-c2/cycle-issues/"] = json::array({work_item("a", "p1", 1, 10), work_item("c", "p1", 3, 30)});
  plane_.lists["projects/p1/cycles/p1-c1/cycle-issues/"] = json::array({work_item("b", "p1", 2, 20)});
  plane_.lists["projects/p1/modules/p1-m1/module-issues/"] = json::array({work_item("d", "p1", 4, 40)});
  for (const std::string p : {"p2"}) {
    plane_.lists["projects/" + p + "/cycles/" + p + "-c1/cycle-issues/"] = json::array();
    plane_.lists["projects/" + p + "/cycles/" + p + "-c2/cycle-issues/"] = json::array();
    plane_.lists["projects/" + p + "/modules/" + p + "-m1/module-issues/"] = json::array();
  }
  const plane::SyncSummary s = run();
  EXPECT_EQ(sink.cycle_members.at("p1-c2"), (Ids{"a", "c"}));
  EXPECT_EQ(sink.cycle_members.count("p1-c1"), 0u);  // over for a long time: not asked
  EXPECT_EQ(sink.module_members.at("p1-m1"), (Ids{"d"}));
  EXPECT_EQ(sink.member_projects.at("p1-c2"), "p1");  // the sink looks only at this project's rows
  EXPECT_EQ(sink.member_projects.at("p1-m1"), "p1");
  EXPECT_EQ(sink.member_projects.at("p2-c2"), "p2");
  EXPECT_EQ(requests_to("projects/p1/cycles/p1-c1/cycle-issues/").size(), 0u);
  EXPECT_EQ(query(requests_to("projects/p1/cycles/p1-c2/cycle-issues/").at(0), "fields"), "id");
  EXPECT_GE(s.memberships, 2);
  run(opts(true, false));
  EXPECT_EQ(sink.cycle_members.at("p1-c1"), (Ids{"b"}));  // a full sync reads every cycle
}

TEST_F(SyncEngineTest, ASmallListWhosePagesSkippedARowIsReadAgain) {
  seed();
  // Four labels, two a page. Between the first listing's two pages a tie reorders the list: the
  // second page repeats p1-l1 and never shows p1-l3 (as Plane's offset paging over equal sort keys).
  auto& labels = plane_.lists["projects/p1/labels/"];
  labels = json::array({object("p1-l1", "p1"), object("p1-l2", "p1"), object("p1-l3", "p1"), object("p1-l4", "p1")});
  int label_requests = 0;
  plane_.before = [&](const ParsedUrl& r) -> std::optional<plane::HttpResponse> {
    if (r.path == "projects/p1/labels/" && ++label_requests == 2) {
      // Page 2 is now l1 (again) and l4: l3 moved to page 1, which was already read.
      labels = json::array({object("p1-l3", "p1"), object("p1-l2", "p1"), object("p1-l1", "p1"), object("p1-l4", "p1")});
    }
    return std::nullopt;
  };
  const plane::SyncSummary s = run();
  plane_.before = nullptr;
  EXPECT_EQ(sink.tables[MirrorTable::Labels].count("p1-l3"), 1u);
  EXPECT_EQ(s.relisted, 1);
  EXPECT_EQ(requests_to("projects/p1/labels/").size(), 4u);  // two pages, then the two again
  EXPECT_EQ(s.labels, 5);  // p1: four distinct labels; p2: one
  // A list whose pages showed every row is read once.
  EXPECT_EQ(requests_to("projects/p2/labels/").size(), 1u);
}

TEST_F(SyncEngineTest, WorkItemRowsCarryTheMembershipListedBeforeThem) {
  seed();
  memberships_ = true;
  replace_in("projects/p1/cycles/", json{{"id", "p1-c2"}, {"name", "now"}, {"project", "p1"},
                                         {"created_at", at(0)}, {"updated_at", at(1)}, {"archived_at", nullptr},
                                         {"start_date", at(99'000)}, {"end_date", at(101'000)}});
  replace_in("projects/p1/modules/", json{{"id", "p1-m2"}, {"name", "m2"}, {"project", "p1"},
                                          {"created_at", at(0)}, {"updated_at", at(1)}, {"archived_at", nullptr}});
  for (const std::string p : {"p1", "p2"}) {
    for (const std::string& list : {"cycles/" + p + "-c1/cycle-issues/", "cycles/" + p + "-c2/cycle-issues/",
                                   "modules/" + p + "-m1/module-issues/"}) {
      plane_.lists["projects/" + p + "/" + list] = json::array();
    }
  }
  plane_.lists["projects/p1/cycles/p1-c2/cycle-issues/"] = json::array({work_item("a", "p1", 1, 10)});
  plane_.lists["projects/p1/modules/p1-m2/module-issues/"] = json::array({work_item("a", "p1", 1, 10), work_item("d", "p1", 4, 40)});
  plane_.lists["projects/p1/modules/p1-m1/module-issues/"] = json::array({work_item("a", "p1", 1, 10)});
  run();
  // The lists were read before the project's work items ...
  std::size_t first_member_list = plane_.requests.size(), first_items = plane_.requests.size();
  for (std::size_t i = 0; i < plane_.requests.size(); ++i) {
    const std::string& path = plane_.requests[i].path;
    if (path.rfind("projects/p1/", 0) != 0) continue;
    if (path.find("-issues/") != std::string::npos) first_member_list = std::min(first_member_list, i);
    if (path == "projects/p1/work-items/") first_items = std::min(first_items, i);
  }
  EXPECT_LT(first_member_list, first_items);
  // ... so the rows are written with their membership the first time,
  const auto& items = sink.tables[MirrorTable::Items];
  EXPECT_EQ(items.at("a").row["cycle_plane_id"], "p1-c2");
  EXPECT_EQ(items.at("a").row["module_ids"], json::array({"p1-m1", "p1-m2"}));  // sorted
  EXPECT_EQ(items.at("d").row["module_ids"], json::array({"p1-m2"}));
  EXPECT_FALSE(items.at("d").row.contains("cycle_plane_id"));  // in no listed cycle: left to the insert's default
  EXPECT_FALSE(items.at("b").row.contains("module_ids"));
  EXPECT_FALSE(items.at("z").row.contains("cycle_plane_id"));  // another project's memberships are not mixed in
  // ... and still applied after them (rows that existed before keep theirs until then).
  EXPECT_EQ(sink.cycle_members.at("p1-c2"), (Ids{"a"}));
  EXPECT_EQ(sink.module_members.at("p1-m2"), (Ids{"a", "d"}));
}

TEST_F(SyncEngineTest, MembershipListsRefusedAreRecordedNotFailed) {
  seed();
  memberships_ = true;
  const plane::SyncSummary s = run();  // no cycle-issues lists at all: 404
  EXPECT_EQ(s.unavailable.count("cycle_issues"), 1u);
  EXPECT_FALSE(sink.states["cycle_issues"].available);
  EXPECT_EQ(s.work_items, 7);
  run();
  EXPECT_EQ(requests_ending("/cycle-issues/"), 0);  // recorded once
}

}  // namespace
