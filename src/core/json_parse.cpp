#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/json_parse.hpp"

#include <simdjson.h>

#include <cstdint>
#include <string>

#include "core/errors.hpp"

namespace plane {

namespace {

using nlohmann::json;

// Deeper documents go to nlohmann's parser (iterative); callers allow 256 levels.
constexpr std::size_t kMaxDepth = 512;

// simdjson's DOM element as nlohmann's value, with nlohmann's number kinds: a non-negative
// integer is unsigned, a negative one signed, anything with a fraction or exponent a double.
json from_element(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      const simdjson::dom::object object = e.get_object().value_unsafe();  // a copy: value_unsafe()
                                                                           // refers into a temporary
      for (simdjson::dom::key_value_pair member : object) {
        out[std::string(member.key)] = from_element(member.value);  // a repeated key: the last wins
      }
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      auto& elements = out.get_ref<json::array_t&>();
      const simdjson::dom::array array = e.get_array().value_unsafe();
      elements.reserve(array.size());
      for (simdjson::dom::element child : array) elements.push_back(from_element(child));
      return out;
    }
    case simdjson::dom::element_type::STRING: return json(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::INT64: {
      const std::int64_t v = e.get_int64().value_unsafe();
      return v >= 0 ? json(static_cast<std::uint64_t>(v)) : json(v);
    }
    case simdjson::dom::element_type::UINT64: return json(e.get_uint64().value_unsafe());
    case simdjson::dom::element_type::DOUBLE: return json(e.get_double().value_unsafe());
    case simdjson::dom::element_type::BOOL: return json(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE: return json(nullptr);
  }
  return json(nullptr);
}

// The kept parser's buffers grow to several times the largest document it parsed: a document over
// this size gets a parser of its own, freed with it, so that one big response is not kept for the
// life of the worker.
constexpr std::size_t kKeptParserMaxBytes = 1u << 20;

json parse_with(simdjson::dom::parser& parser, std::string_view text) {
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root) != simdjson::SUCCESS) {
    return json::parse(text.begin(), text.end(), nullptr, false);
  }
  return from_element(root);
}

bool set_max_depth(simdjson::dom::parser& parser) {
  return parser.allocate(0, kMaxDepth) == simdjson::SUCCESS;
}

}  // namespace

json parse_json(std::string_view text) {
  if (text.size() > kKeptParserMaxBytes) {
    simdjson::dom::parser parser;
    if (!set_max_depth(parser)) return json::parse(text.begin(), text.end(), nullptr, false);
    return parse_with(parser, text);
  }
  // One parser per thread for the usual pages: it keeps its buffers between calls.
  thread_local simdjson::dom::parser parser;
  thread_local bool depth_set = false;
  if (!depth_set) {
    if (!set_max_depth(parser)) return json::parse(text.begin(), text.end(), nullptr, false);
    depth_set = true;
  }
  return parse_with(parser, text);
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

json parse_json_checked(std::string_view text, const char* what) {
  if (json_nesting_depth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    throw PlaneError(ErrorKind::Parse, std::string(what) + " nests deeper than " +
                                           std::to_string(kMaxJsonDepth) + " levels");
  }
  json doc = parse_json(text);
  if (doc.is_discarded()) throw PlaneError(ErrorKind::Parse, std::string(what) + " is not valid JSON");
  return doc;
}

}  // namespace plane
