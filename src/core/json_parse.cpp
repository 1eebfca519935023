#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/json_parse.hpp"

#include <simdjson.h>

#include <cstdint>
#include <string>

#include "core/errors.hpp"
#include "core/parsed_json.hpp"

namespace plane {

namespace {

using nlohmann::json;

// Deeper documents go to nlohmann's parser (iterative); callers allow 256 levels.
constexpr std::size_t kMaxDepth = 512;

}  // namespace

// simdjson's DOM element as nlohmann's value, with nlohmann's number kinds: a non-negative
// integer is unsigned, a negative one signed, anything with a fraction or exponent a double.
json to_json(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      const simdjson::dom::object object = e.get_object().value_unsafe();  // a copy: value_unsafe()
                                                                           // refers into a temporary
      for (simdjson::dom::key_value_pair member : object) {
        out[std::string(member.key)] = to_json(member.value);  // a repeated key: the last wins
      }
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      auto& elements = out.get_ref<json::array_t&>();
      const simdjson::dom::array array = e.get_array().value_unsafe();
      elements.reserve(array.size());
      for (simdjson::dom::element child : array) elements.push_back(to_json(child));
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

std::optional<JsonElement> last_member(JsonElement e, std::string_view key) {
  simdjson::dom::object object;
  if (e.get_object().get(object) != simdjson::SUCCESS) return std::nullopt;
  std::optional<JsonElement> found;
  for (simdjson::dom::key_value_pair member : object) {
    if (member.key == key) found = member.value;
  }
  return found;
}

namespace {

// The kept parser's buffers grow to several times the largest document it parsed: a document over
// this size gets a parser of its own, freed with it, so that one big response is not kept for the
// life of the worker.
constexpr std::size_t kKeptParserMaxBytes = 1u << 20;

json parse_with(simdjson::dom::parser& parser, std::string_view text) {
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root) != simdjson::SUCCESS) {
    return json::parse(text.begin(), text.end(), nullptr, false);
  }
  return to_json(root);
}

bool set_max_depth(simdjson::dom::parser& parser) {
  return parser.allocate(0, kMaxDepth) == simdjson::SUCCESS;
}

// One parser per thread: it keeps its buffers between calls (see kKeptParserMaxBytes).
simdjson::dom::parser* kept_parser() {
  thread_local simdjson::dom::parser parser;
  thread_local bool depth_set = false;
  if (!depth_set) {
    if (!set_max_depth(parser)) return nullptr;
    depth_set = true;
  }
  return &parser;
}

}  // namespace

std::shared_ptr<const ParsedJson> ParsedJson::parse(std::string_view text) {
  auto parsed = std::make_shared<ParsedJson>();
  // The document is the page's own; the parser lends only its scratch buffers.
  simdjson::dom::parser own;
  simdjson::dom::parser* parser = text.size() > kKeptParserMaxBytes ? &own : kept_parser();
  if (parser == &own && !set_max_depth(own)) return nullptr;
  if (parser == nullptr) return nullptr;
  if (parser->parse_into_document(parsed->document_, text.data(), text.size(), true).get(parsed->root_) !=
      simdjson::SUCCESS) {
    return nullptr;
  }
  return parsed;
}

json parse_json(std::string_view text) {
  if (text.size() > kKeptParserMaxBytes) {
    simdjson::dom::parser parser;
    if (!set_max_depth(parser)) return json::parse(text.begin(), text.end(), nullptr, false);
    return parse_with(parser, text);
  }
  simdjson::dom::parser* parser = kept_parser();
  if (parser == nullptr) return json::parse(text.begin(), text.end(), nullptr, false);
  return parse_with(*parser, text);
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
