// Unit tests for src/core/sync_engine: one sync of a workspace against a fake Plane that pages like
// the real one (offset cursors, next_cursor always set, stop on next_page_results; plane-api.md §1),
// recorded by a fake MirrorSink.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/plane_client.hpp"
#include "core/sync_engine.hpp"
#include "core/timestamp.hpp"
#include "fakes.hpp"

namespace {

using fakes::FakePlane;
using fakes::FakeTransport;
using fakes::FakeWaiter;
using nlohmann::json;
using plane::MirrorTable;
using plane::Scope;

const std::string kPrefix = "https://api.plane.so/api/v1/workspaces/acme/";

std::string ts(int minute) {  // distinct, ordered timestamps in the key owner's +05:30 offset
  char buf[64];
  std::snprintf(buf, sizeof buf, "2026-03-01T10:%02d:00.000000+05:30", minute);
  return buf;
}

json item(const std::string& id, const std::string& project, int updated_minute) {
  return {{"id", id}, {"name", "item " + id}, {"project", project}, {"sequence_id", 1},
          {"created_at", ts(0)}, {"updated_at", ts(updated_minute)}, {"state", "s1"},
          {"priority", "none"}, {"assignees", json::array()}, {"labels", json::array()}};
}

json simple(const std::string& id, const std::string& project, bool archived = false) {
  return {{"id", id}, {"name", id}, {"project", project}, {"created_at", ts(0)},
          {"updated_at", ts(1)}, {"archived_at", archived ? json(ts(2)) : json(nullptr)}};
}

struct Applied {
  MirrorTable table;
  json rows;
  std::string resource;
  std::string next_cursor;
};

struct Completed {
  std::string resource;
  std::string project;
  bool backfill;
};

struct Marked {
  MirrorTable table;
  Scope scope;
  std::vector<std::string> seen;
};

class FakeSink : public plane::MirrorSink {
 public:
  std::map<std::string, plane::ResourceState> states;
  std::vector<Applied> applied;
  std::vector<Completed> completed;
  std::vector<Marked> marked;
  std::vector<std::string> gone;
  std::vector<std::string> stale;                // what find_stale answers
  std::set<std::string> mirror_items;            // live work items the mirror holds (find_missing)
  std::map<std::string, bool> availability;

  plane::ResourceState load_state(const std::string& resource) override {
    auto it = states.find(resource);
    return it == states.end() ? plane::ResourceState{} : it->second;
  }
  void apply_page(MirrorTable table, const json& rows, const std::string& resource,
                  const std::string& next_cursor, const plane::SyncProgress&) override {
    applied.push_back(Applied{table, rows, resource, next_cursor});
    if (!resource.empty()) states[resource].cursor = next_cursor;
    if (table == MirrorTable::Items) {
      for (const auto& r : rows) {
        if (r["item_type"] == "issue") mirror_items.insert(r["plane_id"].get<std::string>());
      }
    }
  }
  void complete_scan(const std::string& resource, MirrorTable, const Scope& scope, std::int64_t,
                     bool backfill) override {
    completed.push_back(Completed{resource, scope.project_id.value_or(""), backfill});
    states[resource].cursor.clear();
  }
  long mark_missing(MirrorTable table, const Scope& scope, const std::vector<std::string>& seen) override {
    marked.push_back(Marked{table, scope, seen});
    return 0;
  }
  std::vector<std::string> find_missing(MirrorTable, const Scope&,
                                        const std::vector<std::string>& seen) override {
    std::vector<std::string> out;
    for (const auto& id : mirror_items) {
      if (std::find(seen.begin(), seen.end(), id) == seen.end()) out.push_back(id);
    }
    return out;
  }
  long mark_gone(MirrorTable, const std::vector<std::string>& ids) override {
    for (const auto& id : ids) {
      gone.push_back(id);
      mirror_items.erase(id);
    }
    return static_cast<long>(ids.size());
  }
  std::vector<std::string> find_stale(MirrorTable, const json&) override { return stale; }
  void set_available(const std::string& resource, bool available) override {
    availability[resource] = available;
  }

  long rows(MirrorTable table, const std::string& item_type = "") const {
    long n = 0;
    for (const auto& a : applied) {
      if (a.table != table) continue;
      for (const auto& r : a.rows) {
        if (item_type.empty() || r.value("item_type", "") == item_type) ++n;
      }
    }
    return n;
  }
};

class SyncEngineTest : public ::testing::Test {
 protected:
  SyncEngineTest() : plane_(kPrefix), transport_(&waiter_) {
    transport_.handler = [this](const plane::HttpRequest& r) {
      fakes::ParsedUrl url = fakes::parse_url(r.url, kPrefix);
      if (auto it = details.find(url.path); it != details.end()) {
        plane_.requests.push_back(url);
        return fakes::response(it->second.first, it->second.second.dump());
      }
      return plane_(r);
    };
  }

  // Two live projects and an archived one; per live project: 2 states, 1 label, 1 cycle and 1
  // archived cycle, 1 module, and work items (5 in p1, 1 in p2).
  void seed() {
    plane_.lists["projects/"] = json::array({simple("p1", "p1"), simple("p2", "p2"), simple("px", "px", true)});
    for (const std::string p : {"p1", "p2"}) {
      const std::string base = "projects/" + p + "/";
      plane_.lists[base + "states/"] = json::array({simple(p + "-s1", p), simple(p + "-s2", p)});
      plane_.lists[base + "labels/"] = json::array({simple(p + "-l1", p)});
      plane_.lists[base + "cycles/"] = json::array({simple(p + "-c1", p)});
      plane_.lists[base + "archived-cycles/"] = json::array({simple(p + "-c0", p, true)});
      plane_.lists[base + "modules/"] = json::array({simple(p + "-m1", p)});
      plane_.lists[base + "archived-modules/"] = json::array();
    }
    plane_.lists["projects/p1/work-items/"] = json::array(
        {item("a", "p1", 1), item("b", "p1", 2), item("c", "p1", 3), item("d", "p1", 4), item("e", "p1", 5)});
    plane_.lists["projects/p2/work-items/"] = json::array({item("z", "p2", 1)});
    plane_.lists["projects/px/work-items/"] = json::array({item("hidden", "px", 1)});
  }

  plane::SyncSummary run(plane::SyncOptions options = {}, int per_page = 2) {
    plane::PlaneClientConfig config;
    config.api_url = "https://api.plane.so";
    config.workspace_slug = "acme";
    config.per_page = per_page;
    config.max_attempts = 2;
    plane::PlaneClient client(config, transport_, budget_, credentials_, waiter_);
    options.now_us = 1'800'000'000'000'000;
    plane::SyncEngine engine(client, sink, options);
    return engine.run();
  }

  std::vector<fakes::ParsedUrl> requests_to(const std::string& path) const {
    std::vector<fakes::ParsedUrl> out;
    for (const auto& r : plane_.requests) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  }

  FakeSink sink;
  std::map<std::string, std::pair<long, json>> details;  // path -> (status, body) for detail GETs
  FakeWaiter waiter_;
  FakePlane plane_;
  FakeTransport transport_;
  plane::LocalRequestBudget budget_{0, 60000};
  fakes::FakeCredentials credentials_;
};

TEST_F(SyncEngineTest, FirstRunBackfillsEveryObjectType) {
  seed();
  const plane::SyncSummary s = run();
  EXPECT_EQ(s.projects, 3);
  EXPECT_EQ(s.states, 4);
  EXPECT_EQ(s.labels, 2);
  EXPECT_EQ(s.cycles, 4);  // live and archived
  EXPECT_EQ(s.modules, 2);
  EXPECT_EQ(s.work_items, 6);
  EXPECT_EQ(s.backfill_projects, 2);
  EXPECT_EQ(s.incremental_projects, 0);
  EXPECT_EQ(sink.rows(MirrorTable::Items, "issue"), 6);
  EXPECT_EQ(sink.rows(MirrorTable::Items, "cycle"), 4);
  EXPECT_EQ(sink.rows(MirrorTable::Items, "module"), 2);
  // The archived project's work items are hidden by Plane: never requested.
  EXPECT_TRUE(requests_to("projects/px/work-items/").empty());
  // Backfill reads oldest-first, with a constant per_page, following next_page_results.
  const auto p1 = requests_to("projects/p1/work-items/");
  ASSERT_EQ(p1.size(), 3u);
  for (const auto& r : p1) {
    EXPECT_EQ(r.query.at("order_by"), "created_at");
    EXPECT_EQ(r.query.at("per_page"), "2");
  }
  EXPECT_EQ(p1[1].query.at("cursor"), "2:1:0");
  // A cursor is saved after each page and cleared when the scan completes.
  std::vector<std::string> cursors;
  for (const auto& a : sink.applied) {
    if (a.resource == "work_items:p1") cursors.push_back(a.next_cursor);
  }
  EXPECT_EQ(cursors, (std::vector<std::string>{"2:1:0", "2:2:0", ""}));
  ASSERT_EQ(sink.completed.size(), 2u);
  EXPECT_TRUE(sink.completed[0].backfill);
  // Pages: Plane answered 404 (self-hosted): recorded as unavailable, no project pages asked.
  EXPECT_FALSE(sink.availability.at("pages"));
  EXPECT_TRUE(requests_to("projects/p1/pages/").empty());
  EXPECT_FALSE(s.pages_available);
}

TEST_F(SyncEngineTest, WholeListsMarkWhatTheyNoLongerReturn) {
  seed();
  run();
  auto cycles = std::find_if(sink.marked.begin(), sink.marked.end(), [](const Marked& m) {
    return m.table == MirrorTable::Items && m.scope.item_type == "cycle" && m.scope.project_id == "p1";
  });
  ASSERT_NE(cycles, sink.marked.end());
  std::vector<std::string> seen = cycles->seen;
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"p1-c0", "p1-c1"}));  // the archived list counts too
  auto projects = std::find_if(sink.marked.begin(), sink.marked.end(),
                               [](const Marked& m) { return m.table == MirrorTable::Projects; });
  ASSERT_NE(projects, sink.marked.end());
  EXPECT_FALSE(projects->scope.project_id.has_value());
  EXPECT_EQ(projects->seen.size(), 3u);
}

TEST_F(SyncEngineTest, SecondRunIsIncrementalAndStopsBelowTheWatermark) {
  seed();
  // Newest first, as Plane answers order_by=-updated_at.
  plane_.lists["projects/p1/work-items/"] = json::array(
      {item("e", "p1", 50), item("d", "p1", 40), item("c", "p1", 30), item("b", "p1", 20), item("a", "p1", 10)});
  plane::ResourceState st;
  st.watermark_us = *plane::parse_timestamp_micros(ts(35));
  sink.states["work_items:p1"] = st;
  sink.states["work_items:p2"] = st;
  plane::SyncOptions options;
  options.overlap_ms = 0;
  const plane::SyncSummary s = run(options);
  EXPECT_EQ(s.incremental_projects, 2);
  EXPECT_EQ(s.backfill_projects, 0);
  const auto p1 = requests_to("projects/p1/work-items/");
  // Page 0 (e, d) is above the watermark; page 1 (c, b) reaches below it: stop there.
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_EQ(p1[0].query.at("order_by"), "-updated_at");
  EXPECT_FALSE(sink.completed.front().backfill);
  // An overlap widens the re-read window: with 30 minutes it goes one page further.
  plane_.requests.clear();
  options.overlap_ms = 30 * 60 * 1000;
  run(options);
  EXPECT_EQ(requests_to("projects/p1/work-items/").size(), 3u);
}

TEST_F(SyncEngineTest, FullOptionForcesABackfill) {
  seed();
  plane::ResourceState st;
  st.watermark_us = *plane::parse_timestamp_micros(ts(59));
  sink.states["work_items:p1"] = st;
  plane::SyncOptions options;
  options.full = true;
  const plane::SyncSummary s = run(options);
  EXPECT_EQ(s.backfill_projects, 2);
  EXPECT_EQ(requests_to("projects/p1/work-items/").front().query.at("order_by"), "created_at");
}

TEST_F(SyncEngineTest, InterruptedBackfillResumesFromItsCursor) {
  seed();
  plane::ResourceState st;
  st.cursor = "2:2:0";
  sink.states["work_items:p1"] = st;
  const plane::SyncSummary s = run();
  const auto p1 = requests_to("projects/p1/work-items/");
  ASSERT_EQ(p1.size(), 1u);
  EXPECT_EQ(p1[0].query.at("cursor"), "2:2:0");
  EXPECT_EQ(s.work_items, 1 + 1);  // "e" from p1's last page, "z" from p2
}

TEST_F(SyncEngineTest, AFromStartBackfillConfirmsMissingRowsBeforeMarkingThemGone) {
  seed();
  sink.mirror_items = {"deleted-in-plane", "skipped-by-paging"};
  details["projects/p1/work-items/deleted-in-plane/"] = {404, json{{"detail", "Not found."}}};
  details["projects/p1/work-items/skipped-by-paging/"] = {200, item("skipped-by-paging", "p1", 7)};
  // p2's scan would see p1's ids as missing too: keep its own mirror empty by answering 404 there.
  details["projects/p2/work-items/deleted-in-plane/"] = {404, json{{"detail", "Not found."}}};
  details["projects/p2/work-items/skipped-by-paging/"] = {404, json{{"detail", "Not found."}}};
  const plane::SyncSummary s = run();
  EXPECT_NE(std::find(sink.gone.begin(), sink.gone.end(), "deleted-in-plane"), sink.gone.end());
  // A row the listing skipped but Plane still has is refreshed, not marked gone by p1's scan.
  EXPECT_GE(s.refetched, 1);
}

TEST_F(SyncEngineTest, ReconciliationListsIdsAndRefetchesStaleRows) {
  seed();
  plane::ResourceState st;
  st.watermark_us = *plane::parse_timestamp_micros(ts(59));
  sink.states["work_items:p1"] = st;
  sink.states["work_items:p2"] = st;
  sink.mirror_items = {"a", "b", "c", "d", "e", "z", "vanished"};
  sink.stale = {"c"};
  details["projects/p1/work-items/vanished/"] = {404, json{{"detail", "Not found."}}};
  details["projects/p2/work-items/vanished/"] = {404, json{{"detail", "Not found."}}};
  details["projects/p1/work-items/c/"] = {200, item("c", "p1", 58)};
  details["projects/p2/work-items/c/"] = {404, json{{"detail", "Not found."}}};
  plane::SyncOptions options;
  options.reconcile = true;
  const plane::SyncSummary s = run(options);
  bool listed_ids = false;
  for (const auto& r : requests_to("projects/p1/work-items/")) {
    if (r.query.count("fields") && r.query.at("fields") == "id,updated_at") listed_ids = true;
  }
  EXPECT_TRUE(listed_ids);
  EXPECT_NE(std::find(sink.gone.begin(), sink.gone.end(), "vanished"), sink.gone.end());
  EXPECT_GE(s.refetched, 1);
  EXPECT_EQ(s.gone, static_cast<long>(sink.gone.size()));
}

TEST_F(SyncEngineTest, ManyMissingRowsAreConfirmedByASecondListingNotOneByOne) {
  seed();
  for (int i = 0; i < 10; ++i) sink.mirror_items.insert("old" + std::to_string(i));
  plane::SyncOptions options;
  options.max_refetch = 3;
  run(options);
  long id_listings = 0;
  for (const auto& r : requests_to("projects/p1/work-items/")) {
    if (r.query.count("fields") && r.query.at("fields") == "id") ++id_listings;
  }
  EXPECT_GE(id_listings, 1);
  EXPECT_EQ(std::count_if(sink.gone.begin(), sink.gone.end(),
                          [](const std::string& id) { return id.rfind("old", 0) == 0; }),
            10);
  for (const auto& r : plane_.requests) EXPECT_EQ(r.path.find("/work-items/old"), std::string::npos);
}

TEST_F(SyncEngineTest, UnavailablePagesAreNotAskedAgainUnlessFull) {
  seed();
  plane::ResourceState st;
  st.available = false;
  sink.states["pages"] = st;
  run();
  EXPECT_TRUE(requests_to("pages/").empty());
  plane::SyncOptions options;
  options.full = true;
  run(options);
  EXPECT_EQ(requests_to("pages/").size(), 1u);
}

TEST_F(SyncEngineTest, PagesAreMirroredWhereTheServerHasThem) {
  seed();
  plane_.lists["pages/"] = json::array({simple("wiki1", "")});
  plane_.lists["projects/p1/pages/"] = json::array({simple("pg1", "p1")});
  plane_.lists["projects/p2/pages/"] = json::array();
  const plane::SyncSummary s = run();
  EXPECT_TRUE(s.pages_available);
  EXPECT_EQ(s.pages, 2);
  EXPECT_EQ(sink.rows(MirrorTable::Pages), 2);
}

TEST_F(SyncEngineTest, ProgressCountsRowsAgainstTotals) {
  seed();
  run();
  long rows = 0;
  for (const auto& a : sink.applied) rows += static_cast<long>(a.rows.size());
  EXPECT_EQ(rows, 3 + 4 + 2 + 4 + 2 + 6);
}

}  // namespace
