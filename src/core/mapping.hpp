#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/json_tokens.hpp"
#include "core/parsed_json.hpp"

namespace plane {

// Calendar arithmetic in named time zones ("Asia/Kolkata"), which the core cannot do by itself
// (C++17 has no time zone database): the Postgres layer answers with Postgres's own zone data,
// unit tests with fixed offsets.
class CalendarZones {
 public:
  virtual ~CalendarZones() = default;
  // The calendar date ("YYYY-MM-DD") of the instant `utc_us` in `zone`; nullopt for an unknown zone.
  virtual std::optional<std::string> local_date(std::int64_t utc_us, const std::string& zone) = 0;
};

// Maps Plane objects to mirror rows: a JSON object whose keys are the typed columns of the mirror
// table (mirror_schema.hpp) plus "raw", the full Plane object. Tolerates Plane's quirks: expanded
// or bare foreign keys, "None" for null, timestamps in any UTC offset (normalised to UTC), wrong
// types (the typed column becomes null; raw keeps what Plane sent).
// Throws PlaneError(Parse) when the object has no string "id".
nlohmann::json map_project(const nlohmann::json& project);
nlohmann::json map_work_item(const nlohmann::json& item, const std::string& project_id);
// The same, taking the object over as raw instead of copying it.
nlohmann::json map_work_item(nlohmann::json&& item, const std::string& project_id);
// The row of a work item read from a parsed list page, without raw: the element is the raw
// (the sync engine's pages; same rules and columns as map_work_item).
nlohmann::json work_item_columns(JsonElement item, const std::string& project_id);
// The same for a work item given as tokens (a queued webhook's data, already REST-shaped).
nlohmann::json work_item_columns(const JsonToken* tokens, std::size_t count, const std::string& project_id);
// A cycle's start_date/end_date are datetimes that Plane stores at 00:00:01 and 23:59 of the cycle's
// first and last day in the project's time zone, and renders in the API key owner's zone, so their
// first ten characters can be a day off. Its calendar days (start_date, target_date columns) are
// therefore read in the cycle's own `timezone`, else `project_zone`, through `zones`; without a zone
// or a resolver, the rendered day is kept.
nlohmann::json map_cycle(const nlohmann::json& cycle, const std::string& project_id,
                         CalendarZones* zones = nullptr, const std::string& project_zone = "");
nlohmann::json map_module(const nlohmann::json& module, const std::string& project_id);
nlohmann::json map_state(const nlohmann::json& state, const std::string& project_id);
nlohmann::json map_label(const nlohmann::json& label, const std::string& project_id);
// project_id empty for workspace (wiki) pages.
nlohmann::json map_page(const nlohmann::json& page, const std::string& project_id);
nlohmann::json number_or_null(const nlohmann::json& obj, const char* key);
nlohmann::json bool_or_null(const nlohmann::json& obj, const char* key);

// Helpers shared by the mappers, exposed for tests.
nlohmann::json text_or_null(const nlohmann::json& obj, const char* key);
nlohmann::json id_or_null(const nlohmann::json& obj, const char* key);  // "uuid" or {"id": "uuid"}
nlohmann::json ids_array(const nlohmann::json& obj, const char* key);   // [uuid|{id}] -> [uuid]
nlohmann::json timestamp_or_null(const nlohmann::json& obj, const char* key);  // -> UTC ISO
nlohmann::json date_or_null(const nlohmann::json& obj, const char* key);       // -> YYYY-MM-DD
nlohmann::json int_or_null(const nlohmann::json& obj, const char* key);

}  // namespace plane
