#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/writeback.hpp"

#include <algorithm>

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

json dropped_values(const json& body, const json& answer) {
  json dropped = json::object();
  for (const char* key : {"assignees", "labels"}) {
    auto sent = body.find(key);
    if (sent == body.end() || !sent->is_array()) continue;
    std::vector<std::string> kept;
    for (const auto& id : ids_array(answer, key)) kept.push_back(id.get<std::string>());
    json missing = json::array();
    for (const auto& id : *sent) {
      if (id.is_string() && std::find(kept.begin(), kept.end(), id.get<std::string>()) == kept.end()) {
        missing.push_back(id);
      }
    }
    if (!missing.empty()) dropped[key] = std::move(missing);
  }
  return dropped;
}

namespace {

// The work item as Plane has it now, or nullopt when it is gone. A 404 is confirmed first.
std::optional<json> current_work_item(PlaneClient& client, const WritebackRequest& request) {
  const std::string id_path = request.plane_id + "/";
  try {
    return client.get_object(client.work_items_path(request.project_id) + id_path);
  } catch (const PlaneError& e) {
    if (!is_not_found(e)) throw;
  }
  // The other route family: on a server that has only issues/, work-items/ answers 404 for
  // everything, and a missing route must never read as a missing work item.
  const std::string other = client.work_items_segment() == "work-items" ? "issues" : "work-items";
  try {
    json item = client.get_object("projects/" + request.project_id + "/" + other + "/" + id_path);
    client.use_work_items_segment(other);
    return item;
  } catch (const PlaneError& e) {
    if (!is_not_found(e)) throw;
  }
  // Both routes say 404. Gone, if its project is still there; a project that is gone takes its
  // work items along; a project the key may not read (403) is not proof of anything and throws.
  try {
    (void)client.get_object("projects/" + request.project_id + "/");
  } catch (const PlaneError& e) {
    if (!is_not_found(e)) throw;
  }
  return std::nullopt;
}

}  // namespace

WritebackResult apply_writeback(PlaneClient& client, const WritebackRequest& request) {
  const json body = plane_write_body(request.patch, request.op == "create");
  WritebackResult result;
  auto finish_write = [&](json answer, long status) {
    result.object = std::move(answer);
    result.http_status = status;
    result.plane_updated_at = updated_at_of(result.object);
    result.dropped = dropped_values(body, result.object);
    if (!result.dropped.empty()) result.outcome = WritebackOutcome::Partial;
  };
  if (request.op == "create") {
    finish_write(client.send_object("POST", client.work_items_path(request.project_id), body), 201);
    return result;
  }
  if (request.op != "update") throw PlaneError(ErrorKind::Config, "unknown writeback op: " + request.op);
  std::optional<json> current = current_work_item(client, request);
  if (!current) {
    result.outcome = WritebackOutcome::Gone;
    result.http_status = 404;
    return result;
  }
  const std::string current_version = updated_at_of(*current);
  const std::optional<std::int64_t> base =
      request.base_updated_at ? parse_timestamp_micros(*request.base_updated_at) : std::nullopt;
  const std::optional<std::int64_t> now = parse_timestamp_micros(current_version);
  if (base && (!now || *now != *base)) {
    result.outcome = WritebackOutcome::Conflict;
    result.object = std::move(*current);
    result.http_status = 200;
    result.plane_updated_at = current_version;
    return result;
  }
  finish_write(client.send_object("PATCH", client.work_items_path(request.project_id) + request.plane_id + "/", body),
               200);
  return result;
}

const char* change_status_name(ChangeStatus status) {
  switch (status) {
    case ChangeStatus::Applied: return "applied";
    case ChangeStatus::Partial: return "partial";
    case ChangeStatus::Conflict: return "conflict";
    case ChangeStatus::Discarded: return "discarded";
    case ChangeStatus::Gone: return "gone";
    case ChangeStatus::Failed: return "failed";
    case ChangeStatus::Pending: return "pending";
  }
  return "failed";
}

namespace {

std::string describe_dropped(const json& dropped) {
  std::string text = "Plane accepted the change but dropped";
  const char* sep = " ";
  if (auto a = dropped.find("assignees"); a != dropped.end()) {
    text += std::string(sep) + "assignees " + a->dump() + " (not active members of the project)";
    sep = " and ";
  }
  if (auto l = dropped.find("labels"); l != dropped.end()) {
    text += std::string(sep) + "labels " + l->dump() + " (not labels of the project)";
  }
  return text;
}

}  // namespace

WritebackSummary WritebackEngine::run() {
  WritebackSummary summary;
  const WritebackPolicy policy = store_.load_policy();
  if (!policy.enabled) return summary;  // pending changes wait; new ones are refused at once
  for (const WritebackRequest& change : store_.load_pending(batch_)) {
    json details = {{"change_id", change.id}, {"op", change.op}, {"object", change.plane_id},
                    {"patch", change.patch}, {"base_updated_at", change.base_updated_at.value_or("")},
                    {"conflict_policy", policy.conflict_policy}};
    ChangeRecord record;
    record.plane_id = change.plane_id;
    try {
      WritebackResult result = apply_writeback(client_, change);
      if (result.object.is_object() && result.object.contains("id") && result.object["id"].is_string()) {
        record.mirror_row = map_work_item(result.object, change.project_id);
        record.plane_id = result.object["id"].get<std::string>();
      }
      record.http_status = result.http_status;
      record.plane_updated_at = result.plane_updated_at;
      details["plane_updated_at"] = result.plane_updated_at;
      switch (result.outcome) {
        case WritebackOutcome::Applied:
          details["object"] = record.plane_id;
          record.status = ChangeStatus::Applied;
          record.action = "writeback_applied";
          ++summary.applied;
          break;
        case WritebackOutcome::Partial:
          details["object"] = record.plane_id;
          details["dropped"] = result.dropped;
          record.status = ChangeStatus::Partial;
          record.action = "writeback_partial";
          record.error = describe_dropped(result.dropped);
          ++summary.partial;
          break;
        case WritebackOutcome::Conflict:
          // Plane changed since the patch's base: Plane is left as it is, the mirror takes Plane's
          // version, and the patch is kept (keep_local) or dropped (plane_wins).
          record.status = policy.conflict_policy == "plane_wins" ? ChangeStatus::Discarded : ChangeStatus::Conflict;
          record.action = "writeback_conflict";
          record.error = "Plane's work item changed since this change was made";
          ++summary.conflicts;
          break;
        case WritebackOutcome::Gone:
          record.status = ChangeStatus::Gone;
          record.action = "writeback_gone";
          record.error = "the work item no longer exists in Plane (deleted or archived)";
          record.mirror_row = nullptr;
          ++summary.gone;
          break;
      }
    } catch (const PlaneError& e) {
      if (e.kind() == ErrorKind::Cancelled) throw;
      // Validation errors (4xx, a bad patch) fail now; transient ones retry on later runs.
      const bool again = e.retryable() || e.kind() == ErrorKind::Auth;
      const bool give_up = !again || change.attempts + 1 >= max_attempts_;
      details["error"] = e.what();
      record.status = give_up ? ChangeStatus::Failed : ChangeStatus::Pending;
      record.action = give_up ? "writeback_failed" : "writeback_retry";
      record.http_status = e.http_status();
      record.error = e.what();
      record.details = details;
      store_.record(change, record);
      if (give_up) {
        ++summary.failed;
      } else {
        ++summary.retried;
      }
      // The whole run fails clearly, also when this change used its last attempt: the next ones
      // would only be sent with the same refused credential.
      if (e.kind() == ErrorKind::Auth) throw;
      continue;
    }
    record.details = std::move(details);
    store_.record(change, record);
  }
  return summary;
}

}  // namespace plane
