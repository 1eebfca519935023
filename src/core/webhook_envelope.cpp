#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/webhook_envelope.hpp"

#include <initializer_list>

#include "core/digest.hpp"
#include "core/errors.hpp"
#include "core/json_parse.hpp"
#include "core/mapping.hpp"
#include "core/text.hpp"

namespace plane {

using nlohmann::json;

namespace {

constexpr char kKeyPrefix[] = "plane:event:";

// A string member, or "" when absent, null, Plane's "None", or not a string.
std::string str(const json& obj, const char* key) {
  json v = text_or_null(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::string id_str(const json& obj, const char* key) {
  json v = id_or_null(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

const json& object_member(const json& obj, const char* key) {
  static const json empty = json::object();
  auto it = obj.find(key);
  return (it != obj.end() && it->is_object()) ? *it : empty;
}

// The member as object_member gives it, moved out of obj (which no longer needs it): the payload
// of a delivery is not copied on its way to the mirror row.
json take_object_member(json& obj, const char* key) {
  auto it = obj.find(key);
  return (it != obj.end() && it->is_object()) ? std::move(*it) : json::object();
}

bool applied_action(const std::string& action) {
  return action == "created" || action == "updated" || action == "deleted" || action == "archived";
}

bool applied_entity(const std::string& entity) {
  return entity == "project" || entity == "work_item" || entity == "cycle" || entity == "module" ||
         entity == "page";
}

// A component of the v1 digest: absent (null) and present-but-empty stay distinct.
std::optional<std::string> component(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// Unambiguous encoding of a tuple: each part is "n" (absent) or "s<len>:<bytes>".
std::string digest_key(std::initializer_list<std::optional<std::string>> parts) {
  std::string material;
  for (const auto& p : parts) {
    if (!p) {
      material += 'n';
    } else {
      material += 's';
      material += std::to_string(p->size());
      material += ':';
      material += *p;
    }
  }
  return kKeyPrefix + sha256_hex(material);
}

// "workitem.updated", "page.comment.created": lower-case dotted words, at least two.
bool is_dotted_event(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  bool dot = false;
  char prev = 0;
  for (char c : s) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!word && c != '.') return false;
    if (c == '.') {
      if (prev == '.') return false;
      dot = true;
    }
    prev = c;
  }
  return dot;
}

// Plane's docs show "WebhookScope.ScopeChoices.WORK_ITEM_UPDATED" where "workitem.updated" is
// meant: the last dotted word, upper snake case, "<SCOPE>_<ACTION>".
std::optional<std::string> event_from_scope_name(std::string_view raw) {
  std::size_t dot = raw.rfind('.');
  std::string_view tail = dot == std::string_view::npos ? raw : raw.substr(dot + 1);
  if (tail.empty()) return std::nullopt;
  for (char c : tail) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return std::nullopt;
  }
  std::string t = ascii_lower(tail);
  std::size_t us = t.rfind('_');
  if (us == std::string::npos || us == 0 || us + 1 == t.size()) return std::nullopt;
  std::string scope = t.substr(0, us);
  std::string action = t.substr(us + 1);
  std::string resource;
  if (scope == "work_item" || scope == "workitem" || scope == "issue") {
    resource = "workitem";
  } else if (scope.rfind("work_item_", 0) == 0) {
    resource = "workitem." + scope.substr(10);
  } else if (scope.rfind("issue_", 0) == 0) {
    resource = "workitem." + scope.substr(6);
  } else if (scope.rfind("page_", 0) == 0) {
    resource = "page." + scope.substr(5);
  } else {
    resource = scope;
  }
  std::string event = resource + "." + action;
  return is_dotted_event(event) ? std::optional<std::string>(event) : std::nullopt;
}

// Family of a v2 entity_type ("issue", "issue_comment", "workitem", "page", …) and of a dotted
// event ("workitem.comment.created" -> "workitem"), to check an unsigned header against the body.
std::string entity_type_family(const std::string& t) {
  if (t.rfind("issue", 0) == 0 || t.rfind("workitem", 0) == 0 || t.rfind("work_item", 0) == 0) {
    return "workitem";
  }
  return t.substr(0, t.find('_'));
}

std::string v2_entity(const std::string& resource) {
  if (resource == "workitem" || resource == "work_item" || resource == "issue") return "work_item";
  if (resource == "project" || resource == "cycle" || resource == "module" || resource == "page") {
    return resource;
  }
  if (resource == "comment" || resource == "issue_comment" ||
      (resource.size() > 8 && resource.compare(resource.size() - 8, 8, ".comment") == 0)) {
    return "comment";
  }
  return "other";
}

std::string v1_entity(const std::string& event) {
  if (event == "issue") return "work_item";
  if (event == "project" || event == "cycle" || event == "module") return event;
  if (event == "issue_comment") return "comment";
  return "other";
}

std::optional<std::string> updated_at_of(const json& obj) {
  json ts = timestamp_or_null(obj, "updated_at");
  if (ts.is_string()) return ts.get<std::string>();
  return std::nullopt;
}

void parse_v1(json& doc, const HeaderMap& headers, bool with_key, WebhookEvent& ev) {
  ev.version = "v1";
  ev.action = str(doc, "action");
  if (ev.action.empty()) throw PlaneError(ErrorKind::Parse, "v1 webhook has no string \"action\"");
  ev.entity_type = v1_entity(ev.event);
  ev.data = take_object_member(doc, "data");
  ev.entity_id = str(ev.data, "id");
  ev.updated_at = updated_at_of(ev.data);
  ev.is_delete = ev.action == "deleted";
  ev.is_archive = ev.action == "archived";
  ev.known = applied_entity(ev.entity_type) && applied_action(ev.action);
  if (ev.known && ev.entity_id.empty()) {
    throw PlaneError(ErrorKind::Parse, "v1 \"" + ev.event + "\" webhook has no string data.id");
  }
  if (ev.entity_type == "project") {
    ev.project_id = ev.entity_id;
  } else {
    ev.project_id = id_str(ev.data, "project");
    if (ev.project_id.empty()) ev.project_id = id_str(ev.data, "project_id");
  }
  ev.workspace_id = str(doc, "workspace_id");
  if (auto d = header_value(headers, "x-plane-delivery")) ev.delivery_id = std::string(*d);

  // v1 has no event id and X-Plane-Delivery changes per retry: the key is what identifies the
  // change itself. updated_at is normalised so an offset change cannot split it.
  if (!with_key) return;
  const json& activity = object_member(doc, "activity");
  std::optional<std::string> updated = ev.updated_at;
  if (!updated) updated = component(ev.data, "updated_at");
  ev.idempotency_key = digest_key({std::string("v1"), ev.event, ev.action, component(ev.data, "id"),
                                   updated, component(activity, "field")});
}

void parse_v2(json& doc, const std::string& version, const HeaderMap& headers, bool with_key,
              WebhookEvent& ev) {
  ev.version = version;
  const std::string raw_event = ev.event;
  const std::string entity_type_raw = ascii_lower(str(doc, "entity_type"));

  const json& data = object_member(doc, "data");
  const json& previous = object_member(doc, "previous_attributes");

  // The event name: the body's own dotted name, else the body's scope-enum spelling, else the
  // X-Plane-Event header. Headers are not signed, so the header counts only when the body agrees:
  // same entity family as entity_type, and a delete/archive only with the empty data Plane sends.
  std::optional<std::string> dotted;
  if (is_dotted_event(raw_event)) {
    dotted = raw_event;
  } else if (auto from_scope = event_from_scope_name(raw_event)) {
    dotted = from_scope;
  } else if (auto h = header_value(headers, "x-plane-event")) {
    std::string hv(trim_blanks(*h));
    if (is_dotted_event(hv) && !entity_type_raw.empty() &&
        hv.substr(0, hv.find('.')) == entity_type_family(entity_type_raw)) {
      const std::string header_action = hv.substr(hv.rfind('.') + 1);
      const bool removal = header_action == "deleted" || header_action == "archived";
      if (!removal || data.empty()) dotted = hv;
    }
  }

  if (dotted) {
    std::size_t dot = dotted->rfind('.');
    ev.event = *dotted;
    ev.action = dotted->substr(dot + 1);
    ev.entity_type = v2_entity(dotted->substr(0, dot));
  } else {
    ev.action.clear();
    ev.entity_type = entity_type_raw.empty() ? "other" : v2_entity(entity_type_raw);
  }

  ev.is_delete = ev.action == "deleted";
  ev.is_archive = ev.action == "archived";
  // On deletes (and, as seen, archives) data is {} and previous_attributes holds the record.
  ev.data_is_previous = (ev.is_delete || ev.is_archive) && data.empty();
  ev.data = ev.data_is_previous ? previous : take_object_member(doc, "data");

  ev.entity_id = str(doc, "entity_id");
  if (ev.entity_id.empty()) ev.entity_id = str(ev.data, "id");
  ev.updated_at = updated_at_of(ev.data);
  ev.workspace_id = str(doc, "workspace_id");
  ev.delivery_id = str(doc, "delivery_id");
  if (ev.delivery_id.empty()) {
    if (auto d = header_value(headers, "x-plane-delivery")) ev.delivery_id = std::string(*d);
  }

  ev.known = version == "v2" && dotted && applied_entity(ev.entity_type) && applied_action(ev.action);
  if (ev.known && ev.entity_id.empty()) {
    throw PlaneError(ErrorKind::Parse, "v2 \"" + ev.event + "\" webhook has no entity_id or data.id");
  }
  if (ev.entity_type == "project") {
    ev.project_id = ev.entity_id;
  } else {
    for (const json* obj : {static_cast<const json*>(&ev.data), &previous}) {
      if (ev.project_id.empty()) ev.project_id = id_str(*obj, "project_id");
      if (ev.project_id.empty()) ev.project_id = id_str(*obj, "project");
    }
  }

  if (!with_key) return;
  const std::string event_id = str(doc, "event_id");
  if (!event_id.empty()) {
    ev.idempotency_key = kKeyPrefix + event_id;  // stable across retries
  } else {
    // Off-spec body without event_id: identify the change itself, as for v1.
    ev.idempotency_key = digest_key({version, ev.event, ev.action, ev.entity_id, ev.updated_at,
                                     previous.dump()});
  }
}

}  // namespace

namespace {

// The body as JSON; the nesting depth is checked already.
json parse_body_text(std::string_view body) {
  try {
    return json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    // nlohmann's own message quotes the body ("last read: …"): report the position only.
    throw PlaneError(ErrorKind::Parse,
                     "webhook body is not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception& e) {
    throw PlaneError(ErrorKind::Parse, "webhook body is not valid JSON (json error " +
                                           std::to_string(e.id) + ", e.g. a number out of range)");
  }
}

}  // namespace

WebhookEvent parse_webhook(std::string_view body, const HeaderMap& headers) {
  if (json_nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    throw PlaneError(ErrorKind::Parse, "webhook body nests deeper than " +
                                           std::to_string(kMaxJsonDepth) + " levels");
  }
  return parse_webhook_document(parse_body_text(body), headers);
}

WebhookEvent parse_webhook_document(json doc, const HeaderMap& headers, WebhookKey key) {
  const bool with_key = key == WebhookKey::Compute;
  if (!doc.is_object()) throw PlaneError(ErrorKind::Parse, "webhook body is not a JSON object");

  WebhookEvent ev;
  try {
    auto event = doc.find("event");
    if (event == doc.end() || !event->is_string() || event->get_ref<const std::string&>().empty()) {
      throw PlaneError(ErrorKind::Parse, "webhook body has no string \"event\"");
    }
    ev.event = event->get<std::string>();
    auto version = doc.find("version");
    const bool v1 = version == doc.end() || version->is_null() ||
                    (version->is_string() && version->get_ref<const std::string&>() == "v1");
    if (v1) {
      parse_v1(doc, headers, with_key, ev);
    } else if (!version->is_string() || version->get_ref<const std::string&>().empty()) {
      throw PlaneError(ErrorKind::Parse, "webhook \"version\" is not a non-empty string");
    } else {
      parse_v2(doc, version->get<std::string>(), headers, with_key, ev);
    }
  } catch (const json::exception& e) {
    throw PlaneError(ErrorKind::Parse, "webhook body has an unexpected shape (json error " +
                                           std::to_string(e.id) + ")");
  }
  return ev;
}

WebhookEvent parse_webhook_envelope(const JsonToken* tokens, std::size_t count,
                                    const HeaderMap& headers, WebhookKey key) {
  // Of data's and activity's members, only what parse_v1/parse_v2 read is built: id, updated_at,
  // project (v1), project_id (v2) and activity's field. One null placeholder stands for the others,
  // so that v2's "data is {}" still reads true only for an empty data.
  return parse_webhook_document(
      json_from_tokens_pruned(tokens, count, kMaxJsonDepth, 2, "previous_attributes",
                              {"id", "updated_at", "project", "project_id", "field"}),
      headers, key);
}

WebhookResult handle_webhook(std::string_view secret, std::string_view body, const HeaderMap& headers,
                             const WebhookAuthOptions& options) {
  WebhookResult r;
  r.verdict = check_webhook_request(secret, body, headers, options, r.message);
  if (r.verdict != WebhookVerdict::Accepted) return r;
  try {
    r.event = parse_webhook_document(parse_body_text(body), headers);
  } catch (const PlaneError& e) {
    r.verdict = WebhookVerdict::Malformed;
    r.message = e.what();
  }
  return r;
}

}  // namespace plane
