#include "pg/json_to_jsonb.hpp"

#include "pg/boundary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <cstring>
#include <string_view>

namespace plane::pg {

namespace {

JsonbValue string_value(std::string_view s) noexcept {
  if (memchr(s.data(), '\0', s.size()) != nullptr) {
    ereport(ERROR, (errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
                    errmsg("plane_connector: unsupported Unicode escape sequence"),
                    errdetail("\\u0000 cannot be converted to text.")));
  }
  JsonbValue v;
  v.type = jbvString;
  v.val.string.val = const_cast<char*>(s.data());
  v.val.string.len = static_cast<int>(s.size());
  return v;
}

JsonbValue numeric_value(const char* text) noexcept {
  JsonbValue v;
  v.type = jbvNumeric;
  v.val.numeric = DatumGetNumeric(DirectFunctionCall3(
      numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
  return v;
}

JsonbValue null_value() noexcept {
  JsonbValue v;
  v.type = jbvNull;
  return v;
}

// A double as nlohmann's dump writes it (shortest round trip, "65535.0" for integral values), so
// that raw reads as it did through text; null for a non-finite one, as the dump writes it. The
// string is gone before any Postgres call.
JsonbValue double_value(double d) noexcept {
  if (!std::isfinite(d)) return null_value();
  char text[64];
  cpp_step([&] { std::snprintf(text, sizeof text, "%s", nlohmann::json(d).dump().c_str()); });
  return numeric_value(text);
}

JsonbValue number_value(const nlohmann::json& n) noexcept {
  char text[64];
  if (n.is_number_unsigned()) {
    std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(n.get<std::uint64_t>()));
  } else if (n.is_number_integer()) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(n.get<std::int64_t>()));
  } else {
    return double_value(n.get<double>());
  }
  return numeric_value(text);
}

// Pushes v; returns what pushJsonbValue returns for its last token (the finished document when v
// is the top-level container).
JsonbValue* push(JsonbParseState** state, const nlohmann::json& v, JsonbIteratorToken as) noexcept {
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      // The members in jsonb's key order (shorter keys first, then bytewise), not nlohmann's
      // (bytewise): the builder sorts each object it ends, and its sort returns after one pass
      // over input already in order. Sorting here, inlined, cost a third of that sort.
      using Member = nlohmann::json::object_t::value_type;
      const auto& object = v.get_ref<const nlohmann::json::object_t&>();
      const Member** members = static_cast<const Member**>(palloc(sizeof(Member*) * (object.size() + 1)));
      std::size_t n = 0;
      for (const Member& m : object) members[n++] = &m;
      std::sort(members, members + n, [](const Member* a, const Member* b) noexcept {
        if (a->first.size() != b->first.size()) return a->first.size() < b->first.size();
        return std::memcmp(a->first.data(), b->first.data(), a->first.size()) < 0;
      });
      pushJsonbValue(state, WJB_BEGIN_OBJECT, nullptr);
      for (std::size_t i = 0; i < n; ++i) {
        JsonbValue key = string_value(members[i]->first);
        pushJsonbValue(state, WJB_KEY, &key);
        push(state, members[i]->second, WJB_VALUE);
      }
      pfree(members);
      return pushJsonbValue(state, WJB_END_OBJECT, nullptr);
    }
    case nlohmann::json::value_t::array:
      pushJsonbValue(state, WJB_BEGIN_ARRAY, nullptr);
      for (const auto& e : v) push(state, e, WJB_ELEM);
      return pushJsonbValue(state, WJB_END_ARRAY, nullptr);
    case nlohmann::json::value_t::string: {
      JsonbValue s = string_value(v.get_ref<const std::string&>());
      return pushJsonbValue(state, as, &s);
    }
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float: {
      JsonbValue n = number_value(v);
      return pushJsonbValue(state, as, &n);
    }
    case nlohmann::json::value_t::boolean: {
      JsonbValue b;
      b.type = jbvBool;
      b.val.boolean = v.get<bool>();
      return pushJsonbValue(state, as, &b);
    }
    default: {
      JsonbValue null_value;
      null_value.type = jbvNull;
      return pushJsonbValue(state, as, &null_value);
    }
  }
}

// The same as push, for simdjson's DOM. Numbers take the text the nlohmann route writes (the
// element converted as to_json converts it), so that both routes store the same raw.
JsonbValue* push_parsed(JsonbParseState** state, plane::JsonElement v, JsonbIteratorToken as) noexcept {
  switch (v.type()) {
    case simdjson::dom::element_type::OBJECT: {
      // Stable: of repeated keys the builder keeps the last pushed (as nlohmann keeps the last).
      struct Member {
        std::string_view key;
        plane::JsonElement value;
      };
      const simdjson::dom::object object = v.get_object().value_unsafe();
      const std::size_t size = object.size();
      Member* members = static_cast<Member*>(palloc(sizeof(Member) * (size + 1)));
      std::size_t n = 0;
      for (simdjson::dom::key_value_pair m : object) members[n++] = Member{m.key, m.value};
      std::stable_sort(members, members + n, [](const Member& a, const Member& b) noexcept {
        if (a.key.size() != b.key.size()) return a.key.size() < b.key.size();
        return std::memcmp(a.key.data(), b.key.data(), a.key.size()) < 0;
      });
      pushJsonbValue(state, WJB_BEGIN_OBJECT, nullptr);
      for (std::size_t i = 0; i < n; ++i) {
        JsonbValue key = string_value(members[i].key);
        pushJsonbValue(state, WJB_KEY, &key);
        push_parsed(state, members[i].value, WJB_VALUE);
      }
      pfree(members);
      return pushJsonbValue(state, WJB_END_OBJECT, nullptr);
    }
    case simdjson::dom::element_type::ARRAY: {
      const simdjson::dom::array array = v.get_array().value_unsafe();  // a copy: value_unsafe()
                                                                         // refers into a temporary
      pushJsonbValue(state, WJB_BEGIN_ARRAY, nullptr);
      for (plane::JsonElement e : array) push_parsed(state, e, WJB_ELEM);
      return pushJsonbValue(state, WJB_END_ARRAY, nullptr);
    }
    case simdjson::dom::element_type::STRING: {
      JsonbValue s = string_value(v.get_string().value_unsafe());
      return pushJsonbValue(state, as, &s);
    }
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64: {
      char text[64];
      if (v.type() == simdjson::dom::element_type::INT64) {
        std::snprintf(text, sizeof text, "%lld", static_cast<long long>(v.get_int64().value_unsafe()));
      } else {
        std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(v.get_uint64().value_unsafe()));
      }
      JsonbValue n = numeric_value(text);
      return pushJsonbValue(state, as, &n);
    }
    case simdjson::dom::element_type::DOUBLE: {
      JsonbValue n = double_value(v.get_double().value_unsafe());
      return pushJsonbValue(state, as, &n);
    }
    case simdjson::dom::element_type::BOOL: {
      JsonbValue b;
      b.type = jbvBool;
      b.val.boolean = v.get_bool().value_unsafe();
      return pushJsonbValue(state, as, &b);
    }
    case simdjson::dom::element_type::NULL_VALUE:
      break;
  }
  JsonbValue null = null_value();
  return pushJsonbValue(state, as, &null);
}

}  // namespace

Jsonb* jsonb_from_tokens(const plane::JsonToken* tokens, std::size_t count) noexcept {
  if (count == 0 || (tokens[0].kind != plane::JsonTokenKind::BeginObject &&
                     tokens[0].kind != plane::JsonTokenKind::BeginArray)) {
    elog(ERROR, "plane_connector: jsonb_from_tokens takes an object or an array");
  }
  // Whether each open container is an object: a value in one is a WJB_VALUE, in an array a WJB_ELEM.
  bool* in_object = static_cast<bool*>(palloc(count + 1));
  std::size_t depth = 0;
  JsonbParseState* state = nullptr;
  JsonbValue* result = nullptr;
  char* number = nullptr;
  for (std::size_t i = 0; i < count; ++i) {
    const plane::JsonToken& t = tokens[i];
    const JsonbIteratorToken as = depth > 0 && in_object[depth - 1] ? WJB_VALUE : WJB_ELEM;
    JsonbValue v;
    switch (t.kind) {
      case plane::JsonTokenKind::BeginObject:
      case plane::JsonTokenKind::BeginArray: {
        const bool object = t.kind == plane::JsonTokenKind::BeginObject;
        result = pushJsonbValue(&state, object ? WJB_BEGIN_OBJECT : WJB_BEGIN_ARRAY, nullptr);
        in_object[depth++] = object;
        continue;
      }
      case plane::JsonTokenKind::EndObject:
      case plane::JsonTokenKind::EndArray:
        if (depth == 0) elog(ERROR, "plane_connector: unbalanced JSON tokens");
        --depth;
        result = pushJsonbValue(&state, t.kind == plane::JsonTokenKind::EndObject ? WJB_END_OBJECT : WJB_END_ARRAY,
                                nullptr);
        if (depth == 0 && i + 1 != count) elog(ERROR, "plane_connector: JSON tokens after the value");
        continue;
      case plane::JsonTokenKind::Key:
        v = string_value(std::string_view(t.text, t.len));
        result = pushJsonbValue(&state, WJB_KEY, &v);
        continue;
      case plane::JsonTokenKind::String: v = string_value(std::string_view(t.text, t.len)); break;
      case plane::JsonTokenKind::Number:
        number = pnstrdup(t.text, t.len);
        v = numeric_value(number);
        break;
      case plane::JsonTokenKind::True:
      case plane::JsonTokenKind::False:
        v.type = jbvBool;
        v.val.boolean = t.kind == plane::JsonTokenKind::True;
        break;
      case plane::JsonTokenKind::Null: v = null_value(); break;
    }
    if (depth == 0) elog(ERROR, "plane_connector: a JSON scalar outside a container");
    result = pushJsonbValue(&state, as, &v);
  }
  if (depth != 0 || result == nullptr) elog(ERROR, "plane_connector: unbalanced JSON tokens");
  pfree(in_object);
  return JsonbValueToJsonb(result);
}

Jsonb* jsonb_from_parsed(plane::JsonElement element) noexcept {
  if (!element.is_object() && !element.is_array()) {
    elog(ERROR, "plane_connector: jsonb_from_parsed takes an object or an array");
  }
  JsonbParseState* state = nullptr;
  return JsonbValueToJsonb(push_parsed(&state, element, WJB_VALUE));
}

Jsonb* jsonb_from_json(const nlohmann::json& doc) noexcept {
  if (!doc.is_object() && !doc.is_array()) {
    elog(ERROR, "plane_connector: jsonb_from_json takes an object or an array");
  }
  JsonbParseState* state = nullptr;
  return JsonbValueToJsonb(push(&state, doc, WJB_VALUE));
}

}  // namespace plane::pg
