#include "pg/jsonb_tokens.hpp"

namespace plane::pg {

namespace {

void push(JsonbTokens& out, std::size_t& capacity, plane::JsonTokenKind kind, const char* text,
          std::size_t len) noexcept {
  if (out.count == capacity) {
    capacity *= 2;
    out.tokens = static_cast<plane::JsonToken*>(repalloc(out.tokens, capacity * sizeof(plane::JsonToken)));
  }
  out.tokens[out.count++] = plane::JsonToken{kind, text, len};
}

void push_scalar(JsonbTokens& out, std::size_t& capacity, const JsonbValue& v) noexcept {
  switch (v.type) {
    case jbvNull: push(out, capacity, plane::JsonTokenKind::Null, nullptr, 0); break;
    case jbvBool:
      push(out, capacity, v.val.boolean ? plane::JsonTokenKind::True : plane::JsonTokenKind::False,
           nullptr, 0);
      break;
    case jbvString:
      push(out, capacity, plane::JsonTokenKind::String, v.val.string.val,
           static_cast<std::size_t>(v.val.string.len));
      break;
    case jbvNumeric: {
      char* text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
      push(out, capacity, plane::JsonTokenKind::Number, text, strlen(text));
      break;
    }
    default: elog(ERROR, "plane_connector: unexpected jsonb scalar type %d", static_cast<int>(v.type));
  }
}

}  // namespace

JsonbTokens flatten_jsonb(Jsonb* jb) noexcept {
  std::size_t capacity = 64;
  JsonbTokens out{static_cast<plane::JsonToken*>(palloc(capacity * sizeof(plane::JsonToken))), 0};
  JsonbIterator* it = JsonbIteratorInit(&jb->root);
  JsonbValue v;
  JsonbIteratorToken tok;
  // A top-level scalar is stored as a one-element "raw scalar" array: its brackets are not JSON.
  bool raw_scalar = false;
  while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
    switch (tok) {
      case WJB_BEGIN_OBJECT: push(out, capacity, plane::JsonTokenKind::BeginObject, nullptr, 0); break;
      case WJB_END_OBJECT: push(out, capacity, plane::JsonTokenKind::EndObject, nullptr, 0); break;
      case WJB_BEGIN_ARRAY:
        if (v.val.array.rawScalar) {
          raw_scalar = true;
        } else {
          push(out, capacity, plane::JsonTokenKind::BeginArray, nullptr, 0);
        }
        break;
      case WJB_END_ARRAY:
        if (!raw_scalar) push(out, capacity, plane::JsonTokenKind::EndArray, nullptr, 0);
        raw_scalar = false;
        break;
      case WJB_KEY:
        push(out, capacity, plane::JsonTokenKind::Key, v.val.string.val,
             static_cast<std::size_t>(v.val.string.len));
        break;
      case WJB_VALUE:
      case WJB_ELEM: push_scalar(out, capacity, v); break;
      case WJB_DONE: break;
    }
  }
  return out;
}

}  // namespace plane::pg
