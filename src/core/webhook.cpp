#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/webhook.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <initializer_list>
#include <memory>

#include "core/digest.hpp"
#include "core/errors.hpp"
#include "core/mapping.hpp"

namespace plane {

using nlohmann::json;

namespace {

constexpr char kKeyPrefix[] = "plane:event:";

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of a header, whatever the case of its name; nullopt when absent or present under two
// spellings (ambiguous: never pick one).
std::optional<std::string_view> header_value(const HeaderMap& headers, std::string_view name) {
  std::optional<std::string_view> found;
  for (const auto& [k, v] : headers) {
    if (!iequals(k, name)) continue;
    if (found) return std::nullopt;
    found = v;
  }
  return found;
}

// OpenSSL wants non-null pointers even for empty input.
const unsigned char* bytes_of(std::string_view s) {
  static const unsigned char empty = 0;
  return s.empty() ? &empty : reinterpret_cast<const unsigned char*>(s.data());
}

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
// meant (plane-api.md §5b): the last dotted word, upper snake case, "<SCOPE>_<ACTION>".
std::optional<std::string> event_from_scope_name(std::string_view raw) {
  std::size_t dot = raw.rfind('.');
  std::string_view tail = dot == std::string_view::npos ? raw : raw.substr(dot + 1);
  if (tail.empty()) return std::nullopt;
  for (char c : tail) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return std::nullopt;
  }
  std::string t = lower(tail);
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

  // v1 has no event id and X-Plane-Delivery changes per retry (plane-api.md §5a, §8.2): the key is
  // what identifies the change itself. updated_at is normalised so an offset change cannot split it.
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
  const std::string entity_type_raw = lower(str(doc, "entity_type"));

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
    ev.idempotency_key = kKeyPrefix + event_id;  // stable across retries (plane-api.md §5b)
  } else {
    // Off-spec body without event_id: identify the change itself, as for v1.
    ev.idempotency_key = digest_key({version, ev.event, ev.action, ev.entity_id, ev.updated_at,
                                     previous.dump()});
  }
}

// Fills typed columns the REST-shaped mappers leave empty from v2's *_id spellings.
void fill_null(json& row, const char* column, json value) {
  auto it = row.find(column);
  if (it == row.end()) return;
  const bool empty = it->is_null() || (it->is_array() && it->empty()) ||
                     (it->is_string() && it->get_ref<const std::string&>().empty());
  if (!empty) return;
  if (value.is_null() || (value.is_array() && value.empty())) return;
  *it = std::move(value);
}

}  // namespace

// ------------------------------------------------------------------------------------------------

namespace {

// One header into the map: the name lower-cased, a second spelling of a name joined with ", ".
void add_header(HeaderMap& out, std::string_view name, std::string value) {
  auto [pos, inserted] = out.emplace(lower(name), value);
  if (!inserted) pos->second += ", " + value;
}

// A header's value as headers_from_json renders a scalar: strings as they are, numbers and
// booleans as JSON text; nullopt for null.
std::optional<std::string> scalar_header_value(const JsonToken& t) {
  switch (t.kind) {
    case JsonTokenKind::String: return std::string(t.text, t.len);
    case JsonTokenKind::Number:
      try {
        return json_number(t).dump();
      } catch (const PlaneError&) {
        return std::nullopt;  // not a number JSON can hold: dropped, like any unreadable value
      }
    case JsonTokenKind::True: return std::string("true");
    case JsonTokenKind::False: return std::string("false");
    default: return std::nullopt;
  }
}

}  // namespace

HeaderMap headers_from_json(const json& headers) {
  HeaderMap out;
  if (!headers.is_object()) return out;
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    std::string value;
    const json& v = it.value();
    if (v.is_string()) {
      value = v.get<std::string>();
    } else if (v.is_number() || v.is_boolean()) {
      value = v.dump();
    } else if (v.is_array()) {
      bool any = false;
      for (const json& e : v) {
        if (!e.is_string()) continue;
        if (any) value += ", ";
        value += e.get<std::string>();
        any = true;
      }
      if (!any) continue;
    } else {
      continue;
    }
    add_header(out, it.key(), std::move(value));
  }
  return out;
}

// The same reading straight from the tokens (no document is built): a request's headers are a
// flat object, read on every delivery.
HeaderMap headers_from_tokens(const JsonToken* tokens, std::size_t count) {
  HeaderMap out;
  if (count < 2 || tokens[0].kind != JsonTokenKind::BeginObject ||
      tokens[count - 1].kind != JsonTokenKind::EndObject) {
    return out;
  }
  std::size_t i = 1;
  while (i + 1 < count) {
    if (tokens[i].kind != JsonTokenKind::Key) return {};
    const std::string_view name(tokens[i].text, tokens[i].len);
    const JsonToken& v = tokens[i + 1];
    if (v.kind == JsonTokenKind::BeginObject) {
      i = json_container_end(tokens, count, i + 1) + 1;
      continue;
    }
    if (v.kind != JsonTokenKind::BeginArray) {
      if (auto value = scalar_header_value(v)) add_header(out, name, std::move(*value));
      i += 2;
      continue;
    }
    // An array: its string elements joined with ", " (others skipped); nothing if none.
    std::string joined;
    bool any = false;
    std::size_t j = i + 2;
    while (j < count && tokens[j].kind != JsonTokenKind::EndArray) {
      const JsonTokenKind k = tokens[j].kind;
      if (k == JsonTokenKind::BeginObject || k == JsonTokenKind::BeginArray) {
        j = json_container_end(tokens, count, j) + 1;
        continue;
      }
      if (k == JsonTokenKind::String) {
        if (any) joined += ", ";
        joined.append(tokens[j].text, tokens[j].len);
        any = true;
      }
      ++j;
    }
    if (j >= count) return {};  // unclosed
    if (any) add_header(out, name, std::move(joined));
    i = j + 1;
  }
  if (i + 1 != count) return {};
  return out;
}

int webhook_http_status(WebhookVerdict verdict) {
  switch (verdict) {
    case WebhookVerdict::Accepted: return 200;
    case WebhookVerdict::Unauthorized: return 401;
    case WebhookVerdict::Malformed: return 400;
    case WebhookVerdict::TooLarge: return 413;
  }
  return 500;
}

const char* webhook_verdict_name(WebhookVerdict verdict) {
  switch (verdict) {
    case WebhookVerdict::Accepted: return "accepted";
    case WebhookVerdict::Unauthorized: return "unauthorized";
    case WebhookVerdict::Malformed: return "malformed";
    case WebhookVerdict::TooLarge: return "too_large";
  }
  return "unknown";
}

namespace {

// An HMAC-SHA256 context with its implementations fetched once per process: OpenSSL 3's one-shot
// HMAC() fetches the MAC and the digest on every call, which costs several times the hashing of a
// webhook body. Each thread keys a copy (EVP_MAC_CTX_dup); the template itself is never keyed, and
// lives as long as the process (freeing it at exit could run after OpenSSL's own cleanup).
const EVP_MAC_CTX* hmac_sha256_template() {
  static EVP_MAC_CTX* const tmpl = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr;
    EVP_MAC_free(mac);  // the context keeps its own reference
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (ctx != nullptr && EVP_MAC_CTX_set_params(ctx, params) != 1) {
      EVP_MAC_CTX_free(ctx);
      ctx = nullptr;
    }
    return ctx;
  }();
  if (tmpl == nullptr) throw PlaneError(ErrorKind::Internal, "HMAC-SHA256 unavailable (OpenSSL)");
  return tmpl;
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  // One context per thread, keyed afresh by each call (EVP_MAC_init): no copy per call.
  thread_local const std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(
      EVP_MAC_CTX_dup(hmac_sha256_template()), &EVP_MAC_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (ctx == nullptr || EVP_MAC_init(ctx.get(), bytes_of(key), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), bytes_of(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), md, &len, sizeof md) != 1) {
    throw PlaneError(ErrorKind::Internal, "HMAC-SHA256 failed (OpenSSL)");
  }
  return to_hex(md, len);
}

bool verify_webhook_signature(std::string_view secret, std::string_view body, const HeaderMap& headers) {
  if (secret.empty()) return false;
  bool ok = false;
  if (auto sig = header_value(headers, "x-plane-signature")) {
    std::string given = lower(trim_blanks(*sig));
    std::string expected = hmac_sha256_hex(secret, body);
    if (given.size() == expected.size() &&
        CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0) {
      ok = true;
    }
  }
  if (auto shared = header_value(headers, "x-plane-webhook-secret")) {
    // Digests first: equal length, so the comparison time says nothing about the secret.
    const std::string a = sha256_hex(*shared);
    const std::string b = sha256_hex(secret);
    if (a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0) ok = true;
  }
  return ok;
}

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character (an escaped quote does not end the string)
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return limit + 1;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

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
  if (json_nesting_depth(body, kMaxWebhookJsonDepth) > kMaxWebhookJsonDepth) {
    throw PlaneError(ErrorKind::Parse, "webhook body nests deeper than " +
                                           std::to_string(kMaxWebhookJsonDepth) + " levels");
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
                                    const HeaderMap& headers) {
  // Of data's and activity's members, only what parse_v1/parse_v2 read is built: id, updated_at,
  // project (v1), project_id (v2) and activity's field. One null placeholder stands for the others,
  // so that v2's "data is {}" still reads true only for an empty data.
  return parse_webhook_document(
      json_from_tokens_pruned(tokens, count, kMaxWebhookJsonDepth, 2, "previous_attributes",
                              {"id", "updated_at", "project", "project_id", "field"}),
      headers);
}

WebhookVerdict check_webhook_request(std::string_view secret, std::string_view body,
                                     const HeaderMap& headers, std::size_t max_body_bytes,
                                     std::string& message) {
  if (body.size() > max_body_bytes) {
    message = "webhook body of " + std::to_string(body.size()) + " bytes exceeds the limit of " +
              std::to_string(max_body_bytes);
    return WebhookVerdict::TooLarge;
  }
  if (!verify_webhook_signature(secret, body, headers)) {
    message = secret.empty() ? "no webhook secret is configured" : "webhook signature missing or invalid";
    return WebhookVerdict::Unauthorized;
  }
  if (json_nesting_depth(body, kMaxWebhookJsonDepth) > kMaxWebhookJsonDepth) {
    message = "webhook body nests deeper than " + std::to_string(kMaxWebhookJsonDepth) + " levels";
    return WebhookVerdict::Malformed;
  }
  message.clear();
  return WebhookVerdict::Accepted;
}

WebhookResult handle_webhook(std::string_view secret, std::string_view body, const HeaderMap& headers,
                             std::size_t max_body_bytes) {
  WebhookResult r;
  r.verdict = check_webhook_request(secret, body, headers, max_body_bytes, r.message);
  if (r.verdict != WebhookVerdict::Accepted) return r;
  try {
    r.event = parse_webhook_document(parse_body_text(body), headers);
  } catch (const PlaneError& e) {
    r.verdict = WebhookVerdict::Malformed;
    r.message = e.what();
  }
  return r;
}

namespace {

std::optional<WebhookMirrorChange> mirror_change(const WebhookEvent& ev, json* consumable_data);

}  // namespace

std::optional<WebhookMirrorChange> webhook_mirror_change(const WebhookEvent& ev) {
  return mirror_change(ev, nullptr);
}

std::optional<WebhookMirrorChange> webhook_mirror_change(WebhookEvent&& ev) {
  return mirror_change(ev, &ev.data);
}

namespace {

// With consumable_data (the event's own data, no longer needed), a work item's object is moved
// into the row's raw instead of copied: the queue worker's hot path.
std::optional<WebhookMirrorChange> mirror_change(const WebhookEvent& ev, json* consumable_data) {
  if (!ev.known) return std::nullopt;
  WebhookMirrorChange c;
  c.table = ev.entity_type == "project" ? "projects" : ev.entity_type == "page" ? "pages" : "items";
  c.plane_id = ev.entity_id;
  c.project_id = ev.entity_type == "project" ? std::string() : ev.project_id;
  if (ev.is_delete) {
    c.op = MirrorOp::Delete;
    return c;
  }
  if (ev.is_archive && ev.data_is_previous) {
    // The record before archiving: upserting it would un-archive the row.
    c.op = MirrorOp::Archive;
    return c;
  }
  c.op = MirrorOp::Upsert;
  const json& d = ev.data;
  if (ev.entity_type == "project") {
    c.row = map_project(d);
  } else if (ev.entity_type == "work_item") {
    // v2 spells some references differently; read them before the object may be moved away.
    json state = id_or_null(d, "state_id");
    json parent = id_or_null(d, "parent_id");
    json assignees = ids_array(d, "assignee_ids");
    json labels = ids_array(d, "label_ids");
    c.row = consumable_data != nullptr ? map_work_item(std::move(*consumable_data), ev.project_id)
                                       : map_work_item(d, ev.project_id);
    fill_null(c.row, "state_plane_id", std::move(state));
    fill_null(c.row, "parent_plane_id", std::move(parent));
    fill_null(c.row, "assignee_ids", std::move(assignees));
    fill_null(c.row, "label_ids", std::move(labels));
  } else if (ev.entity_type == "cycle") {
    c.row = map_cycle(d, ev.project_id);
  } else if (ev.entity_type == "module") {
    c.row = map_module(d, ev.project_id);
    fill_null(c.row, "assignee_ids", ids_array(d, "member_ids"));
  } else {
    c.row = map_page(d, ev.project_id);
    fill_null(c.row, "owned_by", id_or_null(d, "owned_by_id"));
  }
  // An unknown project is NULL, not "".
  auto p = c.row.find("project_plane_id");
  if (p != c.row.end() && p->is_string() && p->get_ref<const std::string&>().empty()) *p = nullptr;
  if (c.row.contains("plane_id") && c.row["plane_id"].is_string()) {
    c.plane_id = c.row["plane_id"].get<std::string>();
  }
  return c;
}

}  // namespace

}  // namespace plane
