#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace plane {

// Maps Plane objects to mirror rows: a JSON object whose keys are the typed columns of the mirror
// table (see control/plane_connector--*.sql) plus "raw", the full Plane object. Tolerates Plane's
// quirks: expanded or bare foreign keys, "None" for null, timestamps in any UTC offset (normalised
// to UTC), wrong types (the typed column becomes null; raw keeps what Plane sent).
// Throws PlaneError(Parse) when the object has no string "id".
nlohmann::json map_project(const nlohmann::json& project);
nlohmann::json map_work_item(const nlohmann::json& item, const std::string& project_id);
// The same, taking the object over as raw instead of copying it (the sync engine's pages).
nlohmann::json map_work_item(nlohmann::json&& item, const std::string& project_id);
nlohmann::json map_cycle(const nlohmann::json& cycle, const std::string& project_id);
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
