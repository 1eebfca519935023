#include "pg/json_to_jsonb.hpp"

#include "pg/boundary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <cstring>

namespace plane::pg {

namespace {

JsonbValue string_value(const std::string& s) noexcept {
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

JsonbValue number_value(const nlohmann::json& n) noexcept {
  JsonbValue v;
  char text[64];
  if (n.is_number_unsigned()) {
    std::snprintf(text, sizeof text, "%llu", static_cast<unsigned long long>(n.get<std::uint64_t>()));
  } else if (n.is_number_integer()) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(n.get<std::int64_t>()));
  } else if (!std::isfinite(n.get<double>())) {
    v.type = jbvNull;  // as nlohmann's dump writes a non-finite number
    return v;
  } else {
    // The text nlohmann's dump writes (shortest round trip, "65535.0" for integral values), so
    // that raw reads as it did through text. The string is gone before any Postgres call.
    cpp_step([&] { std::snprintf(text, sizeof text, "%s", n.dump().c_str()); });
  }
  v.type = jbvNumeric;
  v.val.numeric = DatumGetNumeric(DirectFunctionCall3(
      numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
  return v;
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

}  // namespace

Jsonb* jsonb_from_json(const nlohmann::json& doc) noexcept {
  if (!doc.is_object() && !doc.is_array()) {
    elog(ERROR, "plane_connector: jsonb_from_json takes an object or an array");
  }
  JsonbParseState* state = nullptr;
  return JsonbValueToJsonb(push(&state, doc, WJB_VALUE));
}

}  // namespace plane::pg
