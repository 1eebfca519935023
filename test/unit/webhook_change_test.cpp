// Unit tests for src/core/webhook_change: rest_shape brings a webhook's object to the REST API's
// shape (Cloud v2 *_id names, "None" for null, "+00:00" for UTC; v1 expanded objects), so that a
// mirror row's typed columns and raw are the same whether a sync or a webhook wrote it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "core/json_tokens.hpp"
#include "core/mapping.hpp"
#include "core/webhook_change.hpp"
#include "core/webhook_envelope.hpp"
#include "fakes.hpp"

namespace {

using nlohmann::json;

using plane::rest_shape;

const char* const kItem = "775c5716-5302-4617-bb9f-2cd843911268";
const char* const kProject = "59e3be42-87ec-4950-99a3-ae639cf2b089";
const char* const kWorkspace = "b54ecb0d-e3eb-4986-b238-f83fd8665e65";
const char* const kState = "067b88e5-304b-4221-ba09-94340dcc36e5";
const char* const kUser = "754009ab-3fb5-424e-909a-b46e9c9d0c4f";
const char* const kLabel = "b4c2e1a0-0000-4000-8000-000000000001";

TEST(RestShape, RenamesCloudV2NamesToTheRestNames) {
  const json v2 = {{"id", "x"},
                   {"state_id", "s"},
                   {"label_ids", {"l"}},
                   {"assignee_ids", {"u"}},
                   {"parent_id", "pa"},
                   {"project_id", "p"},
                   {"workspace_id", "w"},
                   {"estimate_point_id", "e"},
                   {"created_by_id", "c"},
                   {"updated_by_id", "up"},
                   {"owned_by_id", "o"},
                   {"lead_id", "le"},
                   {"member_ids", {"m"}},
                   {"default_assignee_id", "da"},
                   {"project_lead_id", "pl"},
                   {"default_state_id", "ds"},
                   {"estimate_id", "es"},
                   {"type_id", "t"}};  // the REST API's own name: kept
  const json rest = {{"id", "x"},        {"state", "s"},          {"labels", {"l"}},   {"assignees", {"u"}},
                     {"parent", "pa"},   {"project", "p"},        {"workspace", "w"},  {"estimate_point", "e"},
                     {"created_by", "c"}, {"updated_by", "up"},   {"owned_by", "o"},   {"lead", "le"},
                     {"members", {"m"}}, {"default_assignee", "da"}, {"project_lead", "pl"},
                     {"default_state", "ds"}, {"estimate", "es"}, {"type_id", "t"}};
  EXPECT_EQ(rest_shape(v2), rest);
}

TEST(RestShape, NeverOverwritesAKeyTheRestShapeAlreadyHas) {
  const json both = {{"state", "rest-state"}, {"state_id", "v2-state"}, {"labels", {"rest-label"}},
                     {"label_ids", {"v2-label"}}, {"project", nullptr}, {"project_id", "p"}};
  const json shaped = rest_shape(both);
  EXPECT_EQ(shaped["state"], "rest-state");
  EXPECT_EQ(shaped["labels"], json::array({"rest-label"}));
  EXPECT_TRUE(shaped["project"].is_null());  // present, though null: kept
  EXPECT_FALSE(shaped.contains("state_id"));
  EXPECT_FALSE(shaped.contains("label_ids"));
  EXPECT_FALSE(shaped.contains("project_id"));
  EXPECT_EQ(shaped.size(), 3u);
}

TEST(RestShape, NoneIsNullAtTheTopLevelOnly) {
  const json shaped = rest_shape(
      {{"parent_id", "None"}, {"start_date", "None"}, {"name", "None"}, {"logo_props", {{"emoji", "None"}}},
       {"priority", "none"}, {"labels", {"None"}}});
  EXPECT_TRUE(shaped["parent"].is_null());
  EXPECT_TRUE(shaped["start_date"].is_null());
  EXPECT_TRUE(shaped["name"].is_null());  // a name "None" cannot be told from Cloud's null
  EXPECT_EQ(shaped["logo_props"], (json{{"emoji", "None"}}));  // nested: untouched
  EXPECT_EQ(shaped["priority"], "none");                        // Plane's own value, not a null
  EXPECT_EQ(shaped["labels"], json::array({"None"}));
}

TEST(RestShape, PlusZeroBecomesZOnlyOnDatetimeKeys) {
  const json shaped = rest_shape({{"updated_at", "2026-03-31T11:44:41.249304+00:00"},
                                         {"start_date", "2026-03-01T00:00:01+00:00"},
                                         {"target_date", "2026-03-08"},
                                         {"created_at", "2026-03-31T17:14:41+05:30"},
                                         {"archived_at", "not a time+00:00"},
                                         {"last_activity_at", "2026-03-31 11:44:41.242868+00"},
                                         {"name", "2026-03-31T11:44:41+00:00"},
                                         {"format", "2026-03-31T11:44:41+00:00"},
                                         {"description", "at +00:00"}});
  EXPECT_EQ(shaped["updated_at"], "2026-03-31T11:44:41.249304Z");
  EXPECT_EQ(shaped["start_date"], "2026-03-01T00:00:01Z");
  EXPECT_EQ(shaped["target_date"], "2026-03-08");
  EXPECT_EQ(shaped["created_at"], "2026-03-31T17:14:41+05:30");  // another offset: as sent
  EXPECT_EQ(shaped["archived_at"], "not a time+00:00");
  EXPECT_EQ(shaped["last_activity_at"], "2026-03-31 11:44:41.242868+00");
  EXPECT_EQ(shaped["name"], "2026-03-31T11:44:41+00:00");    // not a datetime key
  EXPECT_EQ(shaped["format"], "2026-03-31T11:44:41+00:00");  // ends in "at", not "_at"
  EXPECT_EQ(shaped["description"], "at +00:00");
}

TEST(RestShape, ExpandedV1ObjectsBecomeIds) {
  const json v1 = {{"state", {{"id", "s"}, {"name", "Todo"}, {"group", "unstarted"}}},
                   {"project", {{"id", "p"}, {"identifier", "MIR"}}},
                   {"parent", {{"name", "no id"}}},
                   {"labels", {{{"id", "l1"}, {"name", "bug"}}, "l2", {{"name", "no id"}}, 7}},
                   {"assignees", {{{"id", "u1"}, {"display_name", "ada"}}}},
                   {"members", json::array()},
                   {"description", {{"id", "not a reference"}}}};
  const json shaped = rest_shape(v1);
  EXPECT_EQ(shaped["state"], "s");
  EXPECT_EQ(shaped["project"], "p");
  EXPECT_TRUE(shaped["parent"].is_null());
  EXPECT_EQ(shaped["labels"], json::array({"l1", "l2"}));
  EXPECT_EQ(shaped["assignees"], json::array({"u1"}));
  EXPECT_EQ(shaped["members"], json::array());
  EXPECT_EQ(shaped["description"], (json{{"id", "not a reference"}}));  // not a reference member
}

TEST(RestShape, WhatIsNotAnObjectIsReturnedAsItIs) {
  EXPECT_EQ(rest_shape(json::array({"None"})), json::array({"None"}));
  EXPECT_EQ(rest_shape("None"), "None");
  EXPECT_TRUE(rest_shape(nullptr).is_null());
}

// The same work item as the REST API renders it (a key owner in UTC) and as Plane Cloud's v2
// webhook sends it.
json rest_work_item() {
  return {{"id", kItem},
          {"type_id", nullptr},
          {"created_at", "2026-03-31T11:44:41.249292Z"},
          {"updated_at", "2026-03-31T11:44:41.249304Z"},
          {"deleted_at", nullptr},
          {"point", nullptr},
          {"name", "webhook test"},
          {"description_html", "<p>at 10:00+00:00</p>"},
          {"priority", "high"},
          {"start_date", nullptr},
          {"target_date", "2026-04-02"},
          {"sequence_id", 3},
          {"sort_order", 75535.0},
          {"completed_at", nullptr},
          {"archived_at", nullptr},
          {"is_draft", false},
          {"external_source", nullptr},
          {"external_id", nullptr},
          {"created_by", kUser},
          {"updated_by", nullptr},
          {"project", kProject},
          {"workspace", kWorkspace},
          {"parent", nullptr},
          {"state", kState},
          {"estimate_point", nullptr},
          {"type", nullptr},
          {"assignees", {kUser}},
          {"labels", {kLabel}}};
}

json cloud_v2_work_item() {
  return {{"id", kItem},
          {"type_id", "None"},
          {"created_at", "2026-03-31T11:44:41.249292+00:00"},
          {"updated_at", "2026-03-31T11:44:41.249304+00:00"},
          {"deleted_at", "None"},
          {"point", "None"},
          {"name", "webhook test"},
          {"description_html", "<p>at 10:00+00:00</p>"},
          {"priority", "high"},
          {"start_date", "None"},
          {"target_date", "2026-04-02"},
          {"sequence_id", 3},
          {"sort_order", 75535.0},
          {"completed_at", "None"},
          {"archived_at", "None"},
          {"is_draft", false},
          {"external_source", "None"},
          {"external_id", "None"},
          {"created_by_id", kUser},
          {"updated_by_id", "None"},
          {"project_id", kProject},
          {"workspace_id", kWorkspace},
          {"parent_id", "None"},
          {"state_id", kState},
          {"estimate_point_id", "None"},
          {"type", "None"},
          {"assignee_ids", {kUser}},
          {"label_ids", {kLabel}}};
}

plane::WebhookEvent v2_event(const std::string& event, const std::string& entity_type, json data) {
  json envelope = {{"version", "v2"},
                   {"delivery_id", "2a0d0510-9052-446e-a1c7-a704bbd68cba"},
                   {"event_id", "9d508cd9-36c2-44a5-928d-7ee2f2a3b8a8"},
                   {"entity_id", data.value("id", "")},
                   {"entity_type", entity_type},
                   {"event", event},
                   {"workspace_id", kWorkspace},
                   {"data", std::move(data)},
                   {"previous_attributes", {{"name", "old"}}}};
  return plane::parse_webhook_document(std::move(envelope), {});
}

TEST(WebhookMirrorChange, ACloudV2WorkItemGivesTheRowOfItsRestObject) {
  auto change = plane::webhook_mirror_change(v2_event("workitem.updated", "workitem", cloud_v2_work_item()));
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->op, plane::MirrorOp::Upsert);
  EXPECT_EQ(change->table, plane::MirrorTable::Items);
  EXPECT_EQ(change->plane_id, kItem);
  EXPECT_EQ(change->project_id, kProject);
  const json from_sync = plane::map_work_item(rest_work_item(), kProject);
  EXPECT_EQ(change->row, from_sync) << change->row.dump() << "\n" << from_sync.dump();
  EXPECT_EQ(change->row["raw"], rest_work_item());  // one shape whatever the source
  EXPECT_EQ(change->row["state_plane_id"], kState);
  EXPECT_EQ(change->row["plane_updated_at"], "2026-03-31T11:44:41.249304Z");
}

TEST(WebhookMirrorChange, ACloudV2CycleGetsItsCalendarDaysInItsZone) {
  const json cycle = {{"id", "c1"},
                      {"project_id", kProject},
                      {"name", "Sprint"},
                      {"timezone", "Asia/Kolkata"},
                      {"start_date", "2026-03-01T18:30:01+00:00"},
                      {"end_date", "2026-03-08T18:29:00+00:00"},
                      {"updated_at", "2026-03-01T00:00:00+00:00"},
                      {"archived_at", "None"}};
  fakes::FakeZones zones;
  auto change = plane::webhook_mirror_change(v2_event("cycle.updated", "cycle", cycle), &zones);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(change->row["item_type"], "cycle");
  EXPECT_EQ(change->row["start_date"], "2026-03-02");
  EXPECT_EQ(change->row["target_date"], "2026-03-08");
  EXPECT_EQ(change->row["raw"]["start_date"], "2026-03-01T18:30:01Z");
  EXPECT_EQ(change->row["raw"]["project"], kProject);
  EXPECT_TRUE(change->row["raw"]["archived_at"].is_null());
}

// The queue applies deliveries from their tokens: a work item's row and raw come out as from the
// document route (v1's expanded objects and v2's names alike), and other entities take that route.
json v1_work_item() {
  json d = rest_work_item();
  d["state"] = {{"id", kState}, {"name", "Todo"}, {"color", "#fff"}};
  d["assignees"] = json::array({{{"id", kUser}, {"display_name", "u"}}, "None", 5});
  d["labels"] = json::array({{{"id", kLabel}, {"name", "bug"}}, {{"name", "no id"}}});
  d["parent"] = {{"name", "no id"}};
  d["updated_at"] = "2026-03-31T11:44:41.249304+00:00";
  return d;
}

void expect_token_route_agrees(const json& envelope) {
  SCOPED_TRACE(envelope.dump());
  const plane::OwnedTokens tokens = plane::json_to_tokens(envelope);
  auto by_tokens = plane::webhook_mirror_change(tokens.data(), tokens.size());
  auto by_document = plane::webhook_mirror_change(plane::parse_webhook_document(envelope, {}, plane::WebhookKey::Skip));
  ASSERT_EQ(by_tokens.has_value(), by_document.has_value());
  if (!by_document) return;
  EXPECT_EQ(by_tokens->op, by_document->op);
  EXPECT_EQ(by_tokens->table, by_document->table);
  EXPECT_EQ(by_tokens->plane_id, by_document->plane_id);
  EXPECT_EQ(by_tokens->project_id, by_document->project_id);
  json row = by_tokens->row;
  if (!by_tokens->raw_tokens.empty()) {
    EXPECT_FALSE(row.contains("raw"));
    row["raw"] = plane::json_from_tokens(by_tokens->raw_tokens.data(), by_tokens->raw_tokens.size(), 256);
  }
  EXPECT_EQ(row, by_document->row);
}

TEST(WebhookMirrorChange, TheTokenRouteAgreesWithTheDocumentRoute) {
  json v2 = {{"version", "v2"},        {"event_id", "e1"},         {"entity_id", kItem},
             {"entity_type", "workitem"}, {"event", "workitem.updated"}, {"workspace_id", kWorkspace},
             {"data", cloud_v2_work_item()}, {"previous_attributes", {{"name", "old"}}}};
  expect_token_route_agrees(v2);
  json v1 = {{"event", "issue"}, {"action", "updated"}, {"webhook_id", "w"}, {"workspace_id", kWorkspace},
             {"data", v1_work_item()}, {"activity", {{"field", "name"}}}};
  expect_token_route_agrees(v1);
  json archived = v2;
  archived["event"] = "workitem.archived";
  archived["data"]["archived_at"] = "2026-04-01";
  expect_token_route_agrees(archived);
  json deleted = v2;
  deleted["event"] = "workitem.deleted";
  deleted["data"] = json::object();
  expect_token_route_agrees(deleted);
  json cycle = v2;
  cycle["event"] = "cycle.updated";
  cycle["entity_type"] = "cycle";
  expect_token_route_agrees(cycle);
  json no_project = v1;
  no_project["data"].erase("project");
  expect_token_route_agrees(no_project);
  // The token route is the one taken, and its raw is the REST object.
  const plane::OwnedTokens tokens = plane::json_to_tokens(v2);
  auto change = plane::webhook_mirror_change(tokens.data(), tokens.size());
  ASSERT_TRUE(change.has_value());
  ASSERT_FALSE(change->raw_tokens.empty());
  EXPECT_EQ(plane::json_from_tokens(change->raw_tokens.data(), change->raw_tokens.size(), 256), rest_work_item());
}

TEST(RestShape, ReferenceListsKeepOnlyIds) {
  const json shaped = rest_shape(v1_work_item());
  EXPECT_EQ(shaped["assignees"], json::array({kUser, "None"}));
  EXPECT_EQ(shaped["labels"], json::array({kLabel}));
  EXPECT_TRUE(shaped["parent"].is_null());
  EXPECT_EQ(shaped["state"], kState);
  EXPECT_EQ(shaped["updated_at"], "2026-03-31T11:44:41.249304Z");
}

}  // namespace
