#include "pg/jsonb_bridge.hpp"

#include "core/json_parse.hpp"
#include "core/json_tokens.hpp"
#include "pg/boundary.hpp"
#include "pg/json_to_jsonb.hpp"
#include "pg/jsonb_tokens.hpp"

namespace plane::pg {

nlohmann::json json_from_jsonb(Jsonb* jb) {
  JsonbTokens tokens{nullptr, 0};
  pg_call([&]() noexcept { tokens = flatten_jsonb(jb); });
  return plane::json_from_tokens(tokens.tokens, tokens.count, plane::kMaxJsonDepth);
}

Datum jsonb_datum(const nlohmann::json& doc) {
  Datum out = 0;
  if (doc.is_object() || doc.is_array()) {
    pg_call([&]() noexcept { out = JsonbPGetDatum(jsonb_from_json(doc)); });
    return out;
  }
  // A scalar: jsonb keeps it as a one-element "raw scalar" array; the builder wants a container,
  // so it goes in as [value] and comes out as the scalar.
  const nlohmann::json wrapped = nlohmann::json::array({doc});
  pg_call([&]() noexcept {
    Jsonb* array = jsonb_from_json(wrapped);
    JsonbValue element;
    JsonbValue* first = getIthJsonbValueFromContainer(&array->root, 0);
    element = *first;
    out = JsonbPGetDatum(JsonbValueToJsonb(&element));
  });
  return out;
}

}  // namespace plane::pg
