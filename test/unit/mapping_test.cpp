// Unit tests for src/core/mapping: Plane objects to mirror rows, tolerating the
// quirks of lists and webhooks (expanded foreign keys, "None" for null, offsets, Issue.archived_at as a date).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/json_tokens.hpp"
#include "core/mapping.hpp"
#include "core/parsed_json.hpp"
#include "fakes.hpp"

namespace {

using nlohmann::json;
using plane::ErrorKind;
using plane::PlaneError;

// map_work_item, checked against the route of the sync's pages (work_item_columns of the same
// object as simdjson parses its text) and the queue's (of the object as tokens): each must give
// the same columns (all but raw), or the same error.
// Every work-item test below maps through here, so each rule is checked on every route.
json map_work_item(const json& it, const std::string& project_id) {
  std::optional<json> expected;
  std::exception_ptr error;
  std::optional<ErrorKind> error_kind;
  try {
    expected = plane::map_work_item(it, project_id);
  } catch (const PlaneError& e) {
    error = std::current_exception();
    error_kind = e.kind();
  }
  const std::string text = it.dump();
  // One other route's columns against map_work_item's row, or its error against map_work_item's.
  auto check_route = [&](const char* route, const auto& map_columns) {
    try {
      const json columns = map_columns();
      EXPECT_FALSE(error_kind.has_value()) << "only the " << route << " route mapped " << text;
      if (expected) {
        json without_raw = *expected;
        without_raw.erase("raw");
        EXPECT_EQ(columns, without_raw) << route << ": " << text;
      }
    } catch (const PlaneError& e) {
      EXPECT_EQ(error_kind, std::optional<ErrorKind>(e.kind())) << route << ": " << text;
    }
  };
  const auto parsed = plane::ParsedJson::parse(text);
  EXPECT_NE(parsed, nullptr) << text;
  if (parsed != nullptr) check_route("parsed", [&] { return plane::work_item_columns(parsed->root(), project_id); });
  // The queue's route: the object as tokens (a webhook payload flattened from jsonb).
  const plane::OwnedTokens tokens = plane::json_to_tokens(it);
  check_route("token", [&] { return plane::work_item_columns(tokens.data(), tokens.size(), project_id); });
  if (error) std::rethrow_exception(error);
  return *expected;
}

const char* const kProjectId = "4af68566-94a4-4eb3-94aa-50dc9427067b";
const char* const kItemId = "e1c25c6f-8a54-4b4e-9a8f-6e8bb4e1e1a1";
const char* const kStateId = "f3f045db-7e74-49f2-b3b2-1b4b8d9d1c1e";
const char* const kLabel1 = "b4c2e1a0-0000-4000-8000-000000000001";
const char* const kLabel2 = "b4c2e1a0-0000-4000-8000-000000000002";
const char* const kUser1 = "c5d3f2b1-0000-4000-8000-000000000001";
const char* const kUser2 = "c5d3f2b1-0000-4000-8000-000000000002";
const char* const kParent = "d6e4a3c2-0000-4000-8000-000000000009";

// A project as ProjectSerializer renders it for a user in Asia/Kolkata.
json api_project() {
  return json::parse(R"({
    "id": "4af68566-94a4-4eb3-94aa-50dc9427067b", "total_members": 3, "total_cycles": 0,
    "total_modules": 1, "is_member": true, "sort_order": 65535.0, "member_role": 20,
    "is_deployed": false, "cover_image_url": null,
    "created_at": "2026-03-01T17:05:09.123456+05:30", "updated_at": "2026-03-02T09:00:00-08:00",
    "deleted_at": null, "name": "Mirror", "description": "", "description_text": "Our project",
    "description_html": "<p>Our project</p>", "network": 2, "identifier": "MIR", "emoji": null,
    "icon_prop": null, "module_view": true, "cycle_view": true, "issue_views_view": true,
    "page_view": true, "intake_view": false, "is_time_tracking_enabled": false,
    "is_issue_type_enabled": false, "guest_view_all_features": false, "cover_image": null,
    "archive_in": 0, "close_in": 0, "logo_props": {}, "archived_at": null, "timezone": "UTC",
    "external_source": null, "external_id": null, "created_by": "c5d3f2b1-0000-4000-8000-000000000001",
    "updated_by": null, "workspace": "a0a0a0a0-0000-4000-8000-000000000000",
    "default_assignee": null, "project_lead": null, "cover_image_asset": null, "estimate": null,
    "default_state": null
  })");
}

// A work item as IssueSerializer renders it on the REST list (bare foreign keys).
json api_work_item() {
  return json::parse(R"({
    "id": "e1c25c6f-8a54-4b4e-9a8f-6e8bb4e1e1a1", "type_id": null,
    "created_at": "2026-03-01T17:05:09.123456+05:30", "updated_at": "2026-03-01T11:35:10Z",
    "deleted_at": null, "point": null, "name": "Fix the sync", "description_html": "<p></p>",
    "description_binary": null, "priority": "high", "start_date": "2026-03-01",
    "target_date": "2026-03-15", "sequence_id": 42, "sort_order": 65535.0,
    "completed_at": null, "archived_at": null, "is_draft": false, "external_source": null,
    "external_id": null, "created_by": "c5d3f2b1-0000-4000-8000-000000000001",
    "updated_by": null, "project": "4af68566-94a4-4eb3-94aa-50dc9427067b",
    "workspace": "a0a0a0a0-0000-4000-8000-000000000000",
    "parent": "d6e4a3c2-0000-4000-8000-000000000009",
    "state": "f3f045db-7e74-49f2-b3b2-1b4b8d9d1c1e", "estimate_point": null, "type": null,
    "assignees": ["c5d3f2b1-0000-4000-8000-000000000001", "c5d3f2b1-0000-4000-8000-000000000002"],
    "labels": ["b4c2e1a0-0000-4000-8000-000000000001"]
  })");
}

// The same work item as a webhook delivers it (IssueExpandSerializer: nested state, expanded
// labels and assignees), with the "None" strings of Plane's v2 webhook examples.
json webhook_work_item() {
  return json::parse(R"({
    "id": "e1c25c6f-8a54-4b4e-9a8f-6e8bb4e1e1a1",
    "created_at": "2026-03-01T11:35:09.123456Z", "updated_at": "2026-03-01T11:35:10.000000Z",
    "name": "Fix the sync", "priority": "None", "sequence_id": 42,
    "start_date": "None", "target_date": null, "completed_at": "None", "archived_at": "None",
    "project": {"id": "4af68566-94a4-4eb3-94aa-50dc9427067b", "identifier": "MIR", "name": "Mirror"},
    "parent": "None",
    "state": {"id": "f3f045db-7e74-49f2-b3b2-1b4b8d9d1c1e", "name": "In Progress",
              "color": "#f59e0b", "group": "started"},
    "labels": [{"id": "b4c2e1a0-0000-4000-8000-000000000001", "name": "bug", "color": "#ff0000"},
               {"id": "b4c2e1a0-0000-4000-8000-000000000002", "name": "p1", "color": "#00ff00"}],
    "assignees": [{"id": "c5d3f2b1-0000-4000-8000-000000000002", "first_name": "Ada",
                   "last_name": "L", "email": "ada@example.com", "avatar": "",
                   "avatar_url": null, "display_name": "ada"}]
  })");
}

ErrorKind mapping_error(const json& obj, bool project) {
  try {
    if (project) {
      plane::map_project(obj);
    } else {
      map_work_item(obj, kProjectId);
    }
  } catch (const PlaneError& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // "did not throw"
}

TEST(MapProject, ApiObject) {
  const json p = api_project();
  const json row = plane::map_project(p);
  EXPECT_EQ(row["plane_id"], kProjectId);
  EXPECT_EQ(row["name"], "Mirror");
  EXPECT_EQ(row["identifier"], "MIR");
  EXPECT_EQ(row["description_text"], "Our project");
  EXPECT_EQ(row["network"], 2);
  EXPECT_TRUE(row["archived_at"].is_null());
  EXPECT_EQ(row["plane_created_at"], "2026-03-01T11:35:09.123456Z");
  EXPECT_EQ(row["plane_updated_at"], "2026-03-02T17:00:00.000000Z");
  EXPECT_EQ(row["raw"], p);  // raw keeps exactly what Plane sent
}

TEST(MapProject, ExactColumnSet) {
  const json row = plane::map_project(api_project());
  for (const char* key : {"plane_id", "name", "identifier", "description_text", "network", "is_member",
                          "timezone", "archived_at", "plane_created_at", "plane_updated_at", "raw"}) {
    EXPECT_TRUE(row.contains(key)) << key;
  }
  EXPECT_EQ(row.size(), 11u) << row.dump();
  EXPECT_EQ(row["is_member"], true);
  EXPECT_EQ(row["timezone"], "UTC");
}

TEST(MapProject, ArchivedProjectDatetime) {
  json p = api_project();
  p["archived_at"] = "2026-04-01T05:30:00+05:30";
  EXPECT_EQ(plane::map_project(p)["archived_at"], "2026-04-01T00:00:00.000000Z");
}

TEST(MapProject, WrongTypesBecomeNullButRawKeepsThem) {
  json p = api_project();
  p["name"] = 17;
  p["identifier"] = json::array({"MIR"});
  p["network"] = "2";
  p["description_text"] = false;
  p["created_at"] = 1772364909;
  p["updated_at"] = "yesterday";
  p["archived_at"] = json::object();
  const json row = plane::map_project(p);
  for (const char* key : {"name", "identifier", "network", "description_text",
                          "plane_created_at", "plane_updated_at", "archived_at"}) {
    EXPECT_TRUE(row[key].is_null()) << key << " = " << row[key].dump();
  }
  EXPECT_EQ(row["raw"]["network"], "2");
  EXPECT_EQ(row["raw"]["updated_at"], "yesterday");
}

TEST(MapProject, NoneStringsAreNull) {
  json p = api_project();
  p["description_text"] = "None";
  p["archived_at"] = "None";
  p["network"] = "None";
  const json row = plane::map_project(p);
  EXPECT_TRUE(row["description_text"].is_null());
  EXPECT_TRUE(row["archived_at"].is_null());
  EXPECT_TRUE(row["network"].is_null());
}

TEST(MapProject, MissingOrBadIdIsParseError) {
  json p = api_project();
  p.erase("id");
  EXPECT_EQ(mapping_error(p, true), ErrorKind::Parse);
  p["id"] = nullptr;
  EXPECT_EQ(mapping_error(p, true), ErrorKind::Parse);
  p["id"] = "";
  EXPECT_EQ(mapping_error(p, true), ErrorKind::Parse);
  p["id"] = "None";
  EXPECT_EQ(mapping_error(p, true), ErrorKind::Parse);
  p["id"] = 12;
  EXPECT_EQ(mapping_error(p, true), ErrorKind::Parse);
  EXPECT_EQ(mapping_error(json::array(), true), ErrorKind::Parse);
  EXPECT_EQ(mapping_error(json("x"), true), ErrorKind::Parse);
  EXPECT_EQ(mapping_error(json(nullptr), true), ErrorKind::Parse);
}

TEST(MapWorkItem, ApiObject) {
  const json it = api_work_item();
  const json row = map_work_item(it, "ignored-because-the-object-says");
  EXPECT_EQ(row["plane_id"], kItemId);
  EXPECT_EQ(row["item_type"], "issue");
  EXPECT_EQ(row["project_plane_id"], kProjectId);
  EXPECT_EQ(row["name"], "Fix the sync");
  EXPECT_EQ(row["sequence_id"], 42);
  EXPECT_EQ(row["state_plane_id"], kStateId);
  EXPECT_EQ(row["priority"], "high");
  EXPECT_EQ(row["parent_plane_id"], kParent);
  EXPECT_EQ(row["assignee_ids"], json::array({kUser1, kUser2}));
  EXPECT_EQ(row["label_ids"], json::array({kLabel1}));
  EXPECT_EQ(row["start_date"], "2026-03-01");
  EXPECT_EQ(row["target_date"], "2026-03-15");
  EXPECT_TRUE(row["completed_at"].is_null());
  EXPECT_TRUE(row["archived_at"].is_null());
  EXPECT_EQ(row["plane_created_at"], "2026-03-01T11:35:09.123456Z");
  EXPECT_EQ(row["plane_updated_at"], "2026-03-01T11:35:10.000000Z");
  EXPECT_EQ(row["raw"], it);
}

TEST(MapWorkItem, ExactColumnSet) {
  const json row = map_work_item(api_work_item(), kProjectId);
  for (const char* key :
       {"plane_id", "item_type", "project_plane_id", "name", "sequence_id", "state_plane_id",
        "priority", "parent_plane_id", "assignee_ids", "label_ids", "start_date", "target_date",
        "completed_at", "archived_at", "plane_created_at", "plane_updated_at", "description_text", "raw"}) {
    EXPECT_TRUE(row.contains(key)) << key;
  }
  EXPECT_EQ(row.size(), 18u) << row.dump();
}

TEST(MapWorkItem, DescriptionAsPlainText) {
  json it = api_work_item();
  it["description_html"] = "<h2>Steps</h2><ul><li><p>Open &amp; log in</p></li></ul><script>x()</script>";
  EXPECT_EQ(map_work_item(it, kProjectId)["description_text"], "Steps\n- Open & log in");
  it["description_html"] = "<p></p>";
  EXPECT_EQ(map_work_item(it, kProjectId)["description_text"], "");
  it.erase("description_html");
  EXPECT_TRUE(map_work_item(it, kProjectId)["description_text"].is_null());
  it["description_stripped"] = "plain";
  EXPECT_EQ(map_work_item(it, kProjectId)["description_text"], "plain");
}

TEST(MapPage, ContentAsPlainTextOnlyWhenItCame) {
  json page = {{"id", "pg1"}, {"name", "Runbook"}, {"updated_at", "2026-03-01T11:35:10Z"}};
  EXPECT_TRUE(plane::map_page(page, "")["content_text"].is_null());  // a list without content
  page["description_html"] = "<p>Restart <b>the</b> worker</p>";
  EXPECT_EQ(plane::map_page(page, "")["content_text"], "Restart the worker");
}

TEST(MapWorkItem, WebhookExpandedForm) {
  const json it = webhook_work_item();
  const json row = map_work_item(it, "other-project");
  EXPECT_EQ(row["plane_id"], kItemId);
  EXPECT_EQ(row["project_plane_id"], kProjectId);  // from the expanded project object
  EXPECT_EQ(row["state_plane_id"], kStateId);
  EXPECT_EQ(row["label_ids"], json::array({kLabel1, kLabel2}));
  EXPECT_EQ(row["assignee_ids"], json::array({kUser2}));
  EXPECT_TRUE(row["priority"].is_null());         // "None"
  EXPECT_TRUE(row["parent_plane_id"].is_null());  // "None"
  EXPECT_TRUE(row["start_date"].is_null());       // "None"
  EXPECT_TRUE(row["target_date"].is_null());      // null
  EXPECT_TRUE(row["completed_at"].is_null());
  EXPECT_TRUE(row["archived_at"].is_null());
  EXPECT_EQ(row["plane_created_at"], "2026-03-01T11:35:09.123456Z");
  EXPECT_EQ(row["raw"], it);
}

TEST(MapWorkItem, ApiAndWebhookFormsAgreeOnForeignKeys) {
  json api = api_work_item();
  json hook = webhook_work_item();
  api["labels"] = json::array({kLabel1, kLabel2});
  api["assignees"] = json::array({kUser2});
  const json a = map_work_item(api, kProjectId);
  const json b = map_work_item(hook, kProjectId);
  for (const char* key : {"plane_id", "project_plane_id", "state_plane_id", "label_ids",
                          "assignee_ids", "sequence_id", "name", "plane_created_at",
                          "plane_updated_at"}) {
    EXPECT_EQ(a[key], b[key]) << key;
  }
}

TEST(MapWorkItem, ProjectFallsBackToCallersProject) {
  json it = api_work_item();
  it.erase("project");
  EXPECT_EQ(map_work_item(it, "fallback-project")["project_plane_id"], "fallback-project");
  it["project"] = "None";
  EXPECT_EQ(map_work_item(it, "fallback-project")["project_plane_id"], "fallback-project");
  it["project"] = 5;
  EXPECT_EQ(map_work_item(it, "fallback-project")["project_plane_id"], "fallback-project");
}

TEST(MapWorkItem, ArchivedAtDateBecomesMidnightUtc) {
  // Issue.archived_at is a DateField (Plane's model).
  json it = api_work_item();
  it["archived_at"] = "2026-03-05";
  EXPECT_EQ(map_work_item(it, kProjectId)["archived_at"], "2026-03-05T00:00:00.000000Z");
  it["archived_at"] = "2026-02-30";  // not a date
  EXPECT_TRUE(map_work_item(it, kProjectId)["archived_at"].is_null());
  it["archived_at"] = "2026-03-05T10:00:00+05:30";  // a datetime is normalised like any other
  EXPECT_EQ(map_work_item(it, kProjectId)["archived_at"], "2026-03-05T04:30:00.000000Z");
}

TEST(MapWorkItem, CompletedAtNormalisedToUtc) {
  json it = api_work_item();
  it["completed_at"] = "2026-03-01T23:30:00-08:00";
  EXPECT_EQ(map_work_item(it, kProjectId)["completed_at"], "2026-03-02T07:30:00.000000Z");
}

TEST(MapWorkItem, TimestampWithoutOffsetIsNull) {
  json it = api_work_item();
  it["updated_at"] = "2026-03-01T11:35:10";
  EXPECT_TRUE(map_work_item(it, kProjectId)["plane_updated_at"].is_null());
}

TEST(MapWorkItem, DateFields) {
  json it = api_work_item();
  it["start_date"] = "2024-02-29";
  it["target_date"] = "2025-02-29";  // no such day
  json row = map_work_item(it, kProjectId);
  EXPECT_EQ(row["start_date"], "2024-02-29");
  EXPECT_TRUE(row["target_date"].is_null());

  // A datetime where a date was expected keeps Plane's calendar day (not the UTC one).
  it["start_date"] = "2026-03-01T01:00:00+05:30";
  it["target_date"] = "03/15/2026";
  row = map_work_item(it, kProjectId);
  EXPECT_EQ(row["start_date"], "2026-03-01");
  EXPECT_TRUE(row["target_date"].is_null());

  // A date followed by junk is not a date.
  it["start_date"] = "2026-03-01garbage";
  it["target_date"] = 20260315;
  row = map_work_item(it, kProjectId);
  EXPECT_TRUE(row["start_date"].is_null());
  EXPECT_TRUE(row["target_date"].is_null());
}

TEST(MapWorkItem, WrongTypesBecomeNull) {
  json it = api_work_item();
  it["name"] = json::object({{"text", "x"}});
  it["sequence_id"] = "42";
  it["state"] = 7;
  it["priority"] = 3;
  it["parent"] = json::array({kParent});
  it["assignees"] = kUser1;         // not an array
  it["labels"] = json::object();    // not an array
  it["created_at"] = 1772364909.5;  // not a string
  const json row = map_work_item(it, kProjectId);
  EXPECT_TRUE(row["name"].is_null());
  EXPECT_TRUE(row["sequence_id"].is_null());
  EXPECT_TRUE(row["state_plane_id"].is_null());
  EXPECT_TRUE(row["priority"].is_null());
  EXPECT_TRUE(row["parent_plane_id"].is_null());
  EXPECT_EQ(row["assignee_ids"], json::array());
  EXPECT_EQ(row["label_ids"], json::array());
  EXPECT_TRUE(row["plane_created_at"].is_null());
  EXPECT_EQ(row["raw"]["sequence_id"], "42");
}

TEST(MapWorkItem, FloatSequenceIdIsNull) {
  json it = api_work_item();
  it["sequence_id"] = 42.5;
  EXPECT_TRUE(map_work_item(it, kProjectId)["sequence_id"].is_null());
}

TEST(MapWorkItem, MissingIdIsParseError) {
  json it = api_work_item();
  it.erase("id");
  EXPECT_EQ(mapping_error(it, false), ErrorKind::Parse);
  it["id"] = json::object({{"id", kItemId}});  // the object's own id must be a string
  EXPECT_EQ(mapping_error(it, false), ErrorKind::Parse);
  it["id"] = "None";
  EXPECT_EQ(mapping_error(it, false), ErrorKind::Parse);
  EXPECT_EQ(mapping_error(json::object(), false), ErrorKind::Parse);
}

TEST(MapWorkItem, ParseErrorMessageNamesTheObject) {
  try {
    map_work_item(json::object({{"name", "x"}}), kProjectId);
    FAIL() << "expected PlaneError";
  } catch (const PlaneError& e) {
    EXPECT_NE(std::string(e.what()).find("work item"), std::string::npos) << e.what();
  }
}

TEST(MappingHelpers, TextOrNull) {
  const json o = {{"a", "x"}, {"b", "None"}, {"c", nullptr}, {"d", 1}, {"e", ""}};
  EXPECT_EQ(plane::text_or_null(o, "a"), "x");
  EXPECT_TRUE(plane::text_or_null(o, "b").is_null());
  EXPECT_TRUE(plane::text_or_null(o, "c").is_null());
  EXPECT_TRUE(plane::text_or_null(o, "d").is_null());
  EXPECT_EQ(plane::text_or_null(o, "e"), "");  // empty text is text, not null
  EXPECT_TRUE(plane::text_or_null(o, "missing").is_null());
  EXPECT_TRUE(plane::text_or_null(json::array({"a"}), "a").is_null());
  EXPECT_TRUE(plane::text_or_null(json(nullptr), "a").is_null());
}

TEST(MappingHelpers, IdOrNull) {
  const json o = {{"bare", "u1"},
                  {"expanded", {{"id", "u2"}, {"name", "x"}}},
                  {"expanded_none", {{"id", "None"}}},
                  {"expanded_noid", {{"name", "x"}}},
                  {"number", 3},
                  {"none", "None"},
                  {"list", json::array({"u3"})}};
  EXPECT_EQ(plane::id_or_null(o, "bare"), "u1");
  EXPECT_EQ(plane::id_or_null(o, "expanded"), "u2");
  EXPECT_TRUE(plane::id_or_null(o, "expanded_none").is_null());
  EXPECT_TRUE(plane::id_or_null(o, "expanded_noid").is_null());
  EXPECT_TRUE(plane::id_or_null(o, "number").is_null());
  EXPECT_TRUE(plane::id_or_null(o, "none").is_null());
  EXPECT_TRUE(plane::id_or_null(o, "list").is_null());
  EXPECT_TRUE(plane::id_or_null(o, "missing").is_null());
}

TEST(MappingHelpers, IdsArraySkipsWhatIsNotAnId) {
  const json o = {{"mixed", json::array({"u1", json({{"id", "u2"}}), json({{"name", "no id"}}),
                                         nullptr, 5, json({{"id", nullptr}}), "u3"})},
                  {"none", "None"},
                  {"empty", json::array()}};
  EXPECT_EQ(plane::ids_array(o, "mixed"), json::array({"u1", "u2", "u3"}));
  EXPECT_EQ(plane::ids_array(o, "none"), json::array());
  EXPECT_EQ(plane::ids_array(o, "empty"), json::array());
  EXPECT_EQ(plane::ids_array(o, "missing"), json::array());
  EXPECT_TRUE(plane::ids_array(o, "missing").is_array());
}

TEST(MappingHelpers, TimestampOrNull) {
  const json o = {{"ist", "2026-03-01T17:05:09.123456+05:30"},
                  {"pst", "2026-03-01T03:35:09-08:00"},
                  {"date", "2026-03-01"},
                  {"naive", "2026-03-01T11:35:09"},
                  {"none", "None"},
                  {"num", 0}};
  EXPECT_EQ(plane::timestamp_or_null(o, "ist"), "2026-03-01T11:35:09.123456Z");
  EXPECT_EQ(plane::timestamp_or_null(o, "pst"), "2026-03-01T11:35:09.000000Z");
  EXPECT_EQ(plane::timestamp_or_null(o, "date"), "2026-03-01T00:00:00.000000Z");
  EXPECT_TRUE(plane::timestamp_or_null(o, "naive").is_null());
  EXPECT_TRUE(plane::timestamp_or_null(o, "none").is_null());
  EXPECT_TRUE(plane::timestamp_or_null(o, "num").is_null());
  EXPECT_TRUE(plane::timestamp_or_null(o, "missing").is_null());
}

TEST(MappingHelpers, IntOrNull) {
  const json o = {{"i", 42}, {"neg", -1}, {"f", 1.5}, {"s", "42"}, {"b", true}, {"none", "None"}};
  EXPECT_EQ(plane::int_or_null(o, "i"), 42);
  EXPECT_EQ(plane::int_or_null(o, "neg"), -1);
  EXPECT_TRUE(plane::int_or_null(o, "f").is_null());
  EXPECT_TRUE(plane::int_or_null(o, "s").is_null());
  EXPECT_TRUE(plane::int_or_null(o, "b").is_null());
  EXPECT_TRUE(plane::int_or_null(o, "none").is_null());
  EXPECT_TRUE(plane::int_or_null(o, "missing").is_null());
}

// ---------------------------------------------------------------------------------------------
// Cycles: calendar days in the cycle's own zone, else the project's, else as rendered.

// A cycle of 2 to 8 March in Asia/Kolkata (stored 00:00:01 and 23:59 local), rendered in UTC.
json kolkata_cycle() {
  return {{"id", "c1"},
          {"project", kProjectId},
          {"name", "Sprint 1"},
          {"start_date", "2026-03-01T18:30:01Z"},
          {"end_date", "2026-03-08T18:29:00Z"},
          {"created_at", "2026-02-20T00:00:00Z"},
          {"updated_at", "2026-02-21T00:00:00Z"},
          {"archived_at", nullptr}};
}

TEST(MapCycle, CalendarDaysInTheProjectsZone) {
  fakes::FakeZones zones;
  const json row = plane::map_cycle(kolkata_cycle(), kProjectId, &zones, "Asia/Kolkata");
  EXPECT_EQ(row["start_date"], "2026-03-02");
  EXPECT_EQ(row["target_date"], "2026-03-08");
  EXPECT_EQ(row["starts_at"], "2026-03-01T18:30:01.000000Z");  // the instants stay as they are
  EXPECT_EQ(row["ends_at"], "2026-03-08T18:29:00.000000Z");
  EXPECT_EQ(zones.asked, (std::vector<std::string>{"Asia/Kolkata", "Asia/Kolkata"}));
}

TEST(MapCycle, TheCyclesOwnZoneComesFirst) {
  fakes::FakeZones zones;
  json c = kolkata_cycle();
  c["timezone"] = "America/Los_Angeles";
  c["start_date"] = "2026-03-02T08:00:01Z";
  c["end_date"] = "2026-03-09T07:59:00Z";
  const json row = plane::map_cycle(c, kProjectId, &zones, "Asia/Kolkata");
  EXPECT_EQ(row["start_date"], "2026-03-02");
  EXPECT_EQ(row["target_date"], "2026-03-08");
  EXPECT_EQ(zones.asked, (std::vector<std::string>{"America/Los_Angeles", "America/Los_Angeles"}));
  // A v2 "None" zone is no zone: the project's applies.
  c = kolkata_cycle();
  c["timezone"] = "None";
  EXPECT_EQ(plane::map_cycle(c, kProjectId, &zones, "Asia/Kolkata")["start_date"], "2026-03-02");
}

TEST(MapCycle, WithoutAZoneOrAResolverTheRenderedDayIsKept) {
  fakes::FakeZones zones;
  EXPECT_EQ(plane::map_cycle(kolkata_cycle(), kProjectId, &zones, "")["start_date"], "2026-03-01");
  EXPECT_TRUE(zones.asked.empty());
  EXPECT_EQ(plane::map_cycle(kolkata_cycle(), kProjectId, nullptr, "Asia/Kolkata")["start_date"], "2026-03-01");
  // A zone the resolver does not know: the rendered day too.
  const json row = plane::map_cycle(kolkata_cycle(), kProjectId, &zones, "Mars/Olympus_Mons");
  EXPECT_EQ(row["start_date"], "2026-03-01");
  EXPECT_EQ(row["target_date"], "2026-03-08");
  // Rendered in +05:30 the day is already local: kept without a zone.
  json local = kolkata_cycle();
  local["start_date"] = "2026-03-02T00:00:01+05:30";
  EXPECT_EQ(plane::map_cycle(local, kProjectId)["start_date"], "2026-03-02");
}

TEST(MapCycle, ADraftCycleWithoutDatesAsksNoZone) {
  fakes::FakeZones zones;
  json c = kolkata_cycle();
  c["start_date"] = nullptr;
  c["end_date"] = "None";
  const json row = plane::map_cycle(c, kProjectId, &zones, "Asia/Kolkata");
  EXPECT_TRUE(row["start_date"].is_null());
  EXPECT_TRUE(row["target_date"].is_null());
  EXPECT_TRUE(row["starts_at"].is_null());
  EXPECT_TRUE(zones.asked.empty());
  EXPECT_EQ(row["assignee_ids"], json::array());
  EXPECT_EQ(row["label_ids"], json::array());
}

}  // namespace

namespace {

// Texts a nlohmann document cannot hold, or holds differently: what each route makes of the same
// text.
json columns_from_text(const std::string& text) {
  const auto parsed = plane::ParsedJson::parse(text);
  EXPECT_NE(parsed, nullptr) << text;
  return parsed ? plane::work_item_columns(parsed->root(), kProjectId) : json();
}

json row_from_text(const std::string& text) {
  json row = plane::map_work_item(plane::parse_json(text), kProjectId);
  row.erase("raw");
  return row;
}

TEST(WorkItemColumns, RepeatedKeysTakeTheLastAsNlohmannAndJsonbDo) {
  const std::string text = std::string(R"({"id":")") + kItemId +
                           R"(","name":"first","state":"None","name":"second","state":")" + kStateId + R"("})";
  const json columns = columns_from_text(text);
  EXPECT_EQ(columns["name"], "second");
  EXPECT_EQ(columns["state_plane_id"], kStateId);
  EXPECT_EQ(columns, row_from_text(text));
}

TEST(WorkItemColumns, IntegersAtTheEdgesAsTheNlohmannRoute) {
  for (const char* n : {"-1", "0", "2147483647", "2147483648", "-2147483648", "-2147483649",
                        "9223372036854775807", "18446744073709551615", "1e3", "7.0"}) {
    const std::string text = std::string(R"({"id":")") + kItemId + R"(","sequence_id":)" + n + "}";
    EXPECT_EQ(columns_from_text(text), row_from_text(text)) << n;
  }
  EXPECT_EQ(columns_from_text(std::string(R"({"id":")") + kItemId + R"(","sequence_id":2147483647})")["sequence_id"],
            2147483647);
}

TEST(WorkItemColumns, EscapedStringsAreDecoded) {
  const std::string text = std::string(R"({"id":")") + kItemId +
                           R"(","name":"caf\u00e9 \"quoted\" \ud83d\ude00","description_html":"<p>a\nb</p>"})";
  const json columns = columns_from_text(text);
  EXPECT_EQ(columns["name"], "caf\xc3\xa9 \"quoted\" \xf0\x9f\x98\x80");
  EXPECT_EQ(columns, row_from_text(text));
}

}  // namespace
