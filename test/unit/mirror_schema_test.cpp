// Unit tests for src/core/mirror_schema against src/core/mapping: every mapper fills exactly the
// typed columns of its table plus "raw", whatever the object holds, so that a column added to one
// side only (the table spec the upsert is generated from, or a mapper) fails here. work_plane.items
// holds three kinds of rows: each item mapper names the columns it leaves NULL, and together they
// fill every column.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/mapping.hpp"
#include "core/mirror_schema.hpp"
#include "fakes.hpp"

namespace {

using nlohmann::json;
using plane::MirrorTable;
using Keys = std::set<std::string>;

// What a mapper fills: the typed columns but the insert-only ones (the sync adds those), and raw.
Keys columns_and_raw(MirrorTable table) {
  Keys keys = {"raw"};
  for (const auto& c : plane::mirror_table_spec(table).columns) {
    if (!c.insert_only) keys.insert(c.name);
  }
  return keys;
}

Keys keys_of(const json& row) {
  Keys keys;
  for (const auto& [k, v] : row.items()) keys.insert(k);
  return keys;
}

Keys minus(Keys a, const Keys& b) {
  for (const auto& k : b) a.erase(k);
  return a;
}

// An object with every field any mapper reads (and then some), and one with only an id.
json everything() {
  return {{"id", "x1"},
          {"name", "n"},
          {"identifier", "MIR"},
          {"description_text", "d"},
          {"network", 2},
          {"is_member", true},
          {"timezone", "Asia/Kolkata"},
          {"project", "p1"},
          {"sequence_id", 4},
          {"state", "s1"},
          {"priority", "high"},
          {"parent", "x0"},
          {"parent_id", "x0"},
          {"assignees", {"u1"}},
          {"labels", {"l1"}},
          {"members", {"u2"}},
          {"status", "planned"},
          {"group", "started"},
          {"color", "#fff"},
          {"sequence", 65535.5},
          {"default", false},
          {"access", 1},
          {"is_locked", true},
          {"owned_by", "u1"},
          {"start_date", "2026-03-01T18:30:01Z"},
          {"end_date", "2026-03-08T18:29:00Z"},
          {"target_date", "2026-03-08"},
          {"completed_at", "2026-03-05T00:00:00Z"},
          {"archived_at", nullptr},
          {"created_at", "2026-03-01T00:00:00Z"},
          {"updated_at", "2026-03-02T00:00:00Z"},
          {"unknown_future_field", 1}};
}

struct Mapper {
  const char* name;
  MirrorTable table;
  std::function<json(const json&)> map;
  Keys left_null;  // columns of the table this kind of row does not have
};

std::vector<Mapper> mappers(fakes::FakeZones* zones) {
  return {
      {"map_project", MirrorTable::Projects, [](const json& o) { return plane::map_project(o); }, {}},
      {"map_state", MirrorTable::States, [](const json& o) { return plane::map_state(o, "p1"); }, {}},
      {"map_label", MirrorTable::Labels, [](const json& o) { return plane::map_label(o, "p1"); }, {}},
      {"map_page", MirrorTable::Pages, [](const json& o) { return plane::map_page(o, "p1"); }, {}},
      {"map_page (workspace)", MirrorTable::Pages, [](const json& o) { return plane::map_page(o, ""); }, {}},
      {"map_work_item", MirrorTable::Items, [](const json& o) { return plane::map_work_item(o, "p1"); },
       {"status", "starts_at", "ends_at"}},
      {"map_work_item (moved)", MirrorTable::Items,
       [](const json& o) { return plane::map_work_item(json(o), "p1"); }, {"status", "starts_at", "ends_at"}},
      {"map_cycle", MirrorTable::Items, [zones](const json& o) { return plane::map_cycle(o, "p1", zones, "UTC"); },
       {"sequence_id", "state_plane_id", "priority", "parent_plane_id", "status", "completed_at"}},
      {"map_module", MirrorTable::Items, [](const json& o) { return plane::map_module(o, "p1"); },
       {"sequence_id", "state_plane_id", "priority", "parent_plane_id", "starts_at", "ends_at", "completed_at"}},
  };
}

TEST(MirrorSchema, EveryMapperFillsExactlyItsTablesColumnsAndRaw) {
  fakes::FakeZones zones;
  for (const Mapper& m : mappers(&zones)) {
    SCOPED_TRACE(m.name);
    const Keys expected = minus(columns_and_raw(m.table), m.left_null);
    EXPECT_EQ(keys_of(m.map(everything())), expected);
    EXPECT_EQ(keys_of(m.map(json{{"id", "x2"}})), expected);  // the same keys, whatever the object holds
    for (const auto& k : m.left_null) EXPECT_EQ(columns_and_raw(m.table).count(k), 1u) << k;
  }
}

TEST(MirrorSchema, TheItemMappersTogetherFillEveryItemsColumn) {
  fakes::FakeZones zones;
  Keys filled;
  for (const Mapper& m : mappers(&zones)) {
    if (m.table != MirrorTable::Items) continue;
    const Keys keys = keys_of(m.map(everything()));
    filled.insert(keys.begin(), keys.end());
  }
  EXPECT_EQ(filled, columns_and_raw(MirrorTable::Items));
}

TEST(MirrorSchema, RawIsTheObjectAndItemTypesAreTheirKinds) {
  const json o = everything();
  EXPECT_EQ(plane::map_project(o)["raw"], o);
  EXPECT_EQ(plane::map_work_item(o, "p1")["raw"], o);
  EXPECT_EQ(plane::map_work_item(o, "p1")["item_type"], "issue");
  EXPECT_EQ(plane::map_cycle(o, "p1")["item_type"], "cycle");
  EXPECT_EQ(plane::map_module(o, "p1")["item_type"], "module");
  EXPECT_EQ(plane::map_page(o, "")["raw"], o);
}

TEST(MirrorSchema, SpecsNameTheirTablesWithPlaneIdFirstAndNoColumnTwice) {
  const std::vector<std::pair<MirrorTable, std::string>> names = {
      {MirrorTable::Projects, "work_plane.projects"}, {MirrorTable::Items, "work_plane.items"},
      {MirrorTable::States, "work_plane.states"},     {MirrorTable::Labels, "work_plane.labels"},
      {MirrorTable::Pages, "work_plane.pages"}};
  ASSERT_EQ(std::size(plane::kMirrorTables), names.size());
  for (const auto& [table, name] : names) {
    SCOPED_TRACE(name);
    const plane::MirrorTableSpec& spec = plane::mirror_table_spec(table);
    EXPECT_EQ(spec.table, table);
    EXPECT_EQ(spec.qualified_name, name);
    EXPECT_EQ(plane::mirror_table_name(table), name);
    ASSERT_FALSE(spec.columns.empty());
    EXPECT_EQ(std::string(spec.columns[0].name), "plane_id");
    Keys seen;
    for (const auto& c : spec.columns) {
      EXPECT_TRUE(seen.insert(c.name).second) << c.name;
      EXPECT_NE(std::string(c.name), "raw");  // the upsert fills raw and the bookkeeping itself
      EXPECT_NE(std::string(c.name), "workspace_slug");
      EXPECT_NE(std::string(c.name), "gone_at");
    }
  }
}

TEST(MirrorSchema, ChangeSourceNames) {
  EXPECT_STREQ(plane::change_source_name(plane::ChangeSource::Sync), "sync");
  EXPECT_STREQ(plane::change_source_name(plane::ChangeSource::Refresh), "refresh");
  EXPECT_STREQ(plane::change_source_name(plane::ChangeSource::Webhook), "webhook");
  EXPECT_STREQ(plane::change_source_name(plane::ChangeSource::Writeback), "writeback");
}

}  // namespace
