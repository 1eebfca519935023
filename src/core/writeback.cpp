#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/writeback.hpp"

#include "core/errors.hpp"
#include "core/mapping.hpp"
#include "core/timestamp.hpp"

namespace plane {

using nlohmann::json;

namespace {

bool is_not_found(const PlaneError& e) { return e.kind() == ErrorKind::Http && e.http_status() == 404; }

std::string updated_at_of(const json& obj) {
  json t = timestamp_or_null(obj, "updated_at");
  return t.is_string() ? t.get<std::string>() : std::string();
}

void require(bool ok, const std::string& field, const char* expected) {
  if (!ok) throw PlaneError(ErrorKind::Config, "writeback field \"" + field + "\" must be " + expected);
}

bool string_array(const json& v) {
  if (!v.is_array()) return false;
  for (const auto& e : v) {
    if (!e.is_string()) return false;
  }
  return true;
}

}  // namespace

json plane_write_body(const json& patch, bool creating) {
  if (!patch.is_object() || patch.empty()) {
    throw PlaneError(ErrorKind::Config, "a writeback patch must be a non-empty JSON object");
  }
  json body = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (key == "name") {
      require(value.is_string() && !value.get_ref<const std::string&>().empty(), key, "a non-empty string");
      body["name"] = value;
    } else if (key == "state_plane_id" || key == "state") {
      require(value.is_string(), key, "a state id");
      body["state"] = value;
    } else if (key == "priority") {
      static const char* levels[] = {"urgent", "high", "medium", "low", "none"};
      bool ok = value.is_string();
      if (ok) {
        ok = false;
        for (const char* l : levels) ok = ok || value.get_ref<const std::string&>() == l;
      }
      require(ok, key, "one of urgent, high, medium, low, none");
      body["priority"] = value;
    } else if (key == "assignee_ids" || key == "assignees") {
      require(string_array(value), key, "an array of user ids");
      body["assignees"] = value;
    } else if (key == "label_ids" || key == "labels") {
      require(string_array(value), key, "an array of label ids");
      body["labels"] = value;
    } else if (key == "start_date" || key == "target_date") {
      require(value.is_null() || (value.is_string() && is_valid_date(value.get_ref<const std::string&>())),
              key, "a date YYYY-MM-DD or null");
      body[key] = value;
    } else if (key == "description_html") {
      require(value.is_string(), key, "a string");
      body[key] = value;
    } else {
      throw PlaneError(ErrorKind::Config,
                       "writeback does not support field \"" + key +
                           "\" (supported: name, state_plane_id, priority, assignee_ids, label_ids, "
                           "start_date, target_date, description_html)");
    }
  }
  if (creating && !body.contains("name")) {
    throw PlaneError(ErrorKind::Config, "a new work item needs a \"name\"");
  }
  return body;
}

WritebackResult apply_writeback(PlaneClient& client, const WritebackRequest& request) {
  const json body = plane_write_body(request.patch, request.op == "create");
  WritebackResult result;
  if (request.op == "create") {
    result.object = client.send_object("POST", "projects/" + request.project_id + "/work-items/", body);
    result.http_status = 201;
    result.plane_updated_at = updated_at_of(result.object);
    return result;
  }
  if (request.op != "update") throw PlaneError(ErrorKind::Config, "unknown writeback op: " + request.op);
  const std::string path = "projects/" + request.project_id + "/work-items/" + request.plane_id + "/";
  json current;
  try {
    current = client.get_object(path);
  } catch (const PlaneError& e) {
    if (!is_not_found(e)) throw;
    result.outcome = WritebackOutcome::Gone;
    result.http_status = 404;
    return result;
  }
  const std::string current_version = updated_at_of(current);
  const std::optional<std::int64_t> base =
      request.base_updated_at ? parse_timestamp_micros(*request.base_updated_at) : std::nullopt;
  const std::optional<std::int64_t> now = parse_timestamp_micros(current_version);
  if (base && (!now || *now != *base)) {
    result.outcome = WritebackOutcome::Conflict;
    result.object = std::move(current);
    result.http_status = 200;
    result.plane_updated_at = current_version;
    return result;
  }
  result.object = client.send_object("PATCH", path, body);
  result.http_status = 200;
  result.plane_updated_at = updated_at_of(result.object);
  return result;
}

}  // namespace plane
