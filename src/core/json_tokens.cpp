#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/json_tokens.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.hpp"

namespace plane {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(const char* what) {
  throw PlaneError(ErrorKind::Parse, std::string("JSON token stream is malformed: ") + what);
}

json number_from_text(const char* text, std::size_t len) {
  // Integers (the common case: ids, sequence numbers) without a parser; anything else exactly as
  // nlohmann would read the text.
  std::int64_t i = 0;
  auto [end, ec] = std::from_chars(text, text + len, i);
  if (ec == std::errc() && end == text + len) return json(i);
  try {
    json n = json::parse(text, text + len);
    if (!n.is_number()) malformed("a number token is not a number");
    return n;
  } catch (const json::exception&) {
    throw PlaneError(ErrorKind::Parse, "JSON number out of range");
  }
}

}  // namespace

std::size_t json_container_end(const JsonToken* tokens, std::size_t count, std::size_t begin,
                               int* depth) {
  int open = 0;
  int deepest = 0;
  for (std::size_t i = begin; i < count; ++i) {
    const JsonTokenKind k = tokens[i].kind;
    if (k == JsonTokenKind::BeginObject || k == JsonTokenKind::BeginArray) {
      deepest = std::max(deepest, ++open);
    } else if ((k == JsonTokenKind::EndObject || k == JsonTokenKind::EndArray) && --open == 0) {
      if (depth != nullptr) *depth = deepest;
      return i;
    }
  }
  if (depth != nullptr) *depth = deepest;
  return count;
}

json json_number(const JsonToken& token) { return number_from_text(token.text, token.len); }

json json_from_tokens(const JsonToken* tokens, std::size_t count, int max_depth) {
  return json_from_tokens_pruned(tokens, count, max_depth, max_depth, {});
}

json json_from_tokens_pruned(const JsonToken* tokens, std::size_t count, int max_depth,
                             int keep_depth, std::string_view whole_member,
                             std::initializer_list<std::string_view> deep_members) {
  json root;
  bool have_root = false;
  // Open containers, innermost last; for objects, the key the next value goes under.
  std::vector<json*> open;
  std::string key;
  bool have_key = false;
  bool in_whole_member = false;  // inside the top-level member kept whole

  // A value about to be placed under `key` in an object at depth keep_depth, not wanted there.
  auto unwanted_member = [&]() -> bool {
    if (deep_members.size() == 0 || in_whole_member) return false;
    if (static_cast<int>(open.size()) != keep_depth || !open.back()->is_object()) return false;
    for (std::string_view name : deep_members) {
      if (name == key) return false;
    }
    return true;
  };

  bool placeholder_placed = false;  // the object being built at keep_depth holds its placeholder

  auto place = [&](json value) -> json* {
    if (open.empty()) {
      if (have_root) malformed("more than one top-level value");
      root = std::move(value);
      have_root = true;
      return &root;
    }
    json& parent = *open.back();
    if (parent.is_object()) {
      if (!have_key) malformed("an object member without a key");
      have_key = false;
      json& slot = parent[key];
      slot = std::move(value);
      return &slot;
    }
    parent.push_back(std::move(value));
    return &parent.back();
  };

  // Drops the next value if it is an unwanted member (the first of each object stays, as a null
  // placeholder, so that the object's emptiness still reads true); false if it is to be placed.
  auto drop_unwanted = [&]() -> bool {
    if (!unwanted_member()) return false;
    if (!have_key) malformed("an object member without a key");
    if (placeholder_placed) {
      have_key = false;
    } else {
      place(json(nullptr));
      placeholder_placed = true;
    }
    return true;
  };

  for (std::size_t i = 0; i < count; ++i) {
    const JsonToken& t = tokens[i];
    switch (t.kind) {
      case JsonTokenKind::BeginObject:
      case JsonTokenKind::BeginArray: {
        if (static_cast<int>(open.size()) >= max_depth) {
          throw PlaneError(ErrorKind::Parse,
                           "JSON nests deeper than " + std::to_string(max_depth) + " levels");
        }
        if (open.size() == 1) in_whole_member = have_key && !whole_member.empty() && key == whole_member;
        if (static_cast<int>(open.size()) >= keep_depth && !in_whole_member) {
          // Pruned: null in its place (or dropped), and its tokens skipped (still checked for
          // balance and depth).
          if (!drop_unwanted()) place(json(nullptr));
          int depth = 0;
          i = json_container_end(tokens, count, i, &depth);
          if (static_cast<int>(open.size()) + depth > max_depth) {
            throw PlaneError(ErrorKind::Parse,
                             "JSON nests deeper than " + std::to_string(max_depth) + " levels");
          }
          if (i == count) malformed("an unclosed container");
          break;
        }
        json* c = place(t.kind == JsonTokenKind::BeginObject ? json::object() : json::array());
        open.push_back(c);
        placeholder_placed = false;
        break;
      }
      case JsonTokenKind::EndObject:
      case JsonTokenKind::EndArray:
        if (open.empty() || open.back()->is_object() != (t.kind == JsonTokenKind::EndObject)) {
          malformed("an unmatched end of container");
        }
        if (have_key) malformed("a key without a value");
        open.pop_back();
        break;
      case JsonTokenKind::Key:
        if (open.empty() || !open.back()->is_object() || have_key) malformed("a misplaced key");
        key.assign(t.text, t.len);
        have_key = true;
        break;
      case JsonTokenKind::String:
        if (!drop_unwanted()) place(json(std::string(t.text, t.len)));
        break;
      case JsonTokenKind::Number:
        if (!drop_unwanted()) place(number_from_text(t.text, t.len));
        break;
      case JsonTokenKind::True:
        if (!drop_unwanted()) place(json(true));
        break;
      case JsonTokenKind::False:
        if (!drop_unwanted()) place(json(false));
        break;
      case JsonTokenKind::Null:
        if (!drop_unwanted()) place(json(nullptr));
        break;
    }
  }
  if (!open.empty()) malformed("an unclosed container");
  if (!have_root) malformed("no value");
  return root;
}

OwnedTokens OwnedTokens::copy_of(const JsonToken* tokens, std::size_t count) {
  OwnedTokens out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < count; ++i) chars += tokens[i].len;
  out.texts_.resize(chars);
  out.tokens_.reserve(count);
  std::size_t at = 0;
  for (std::size_t i = 0; i < count; ++i) {
    JsonToken t = tokens[i];
    if (t.len > 0) {
      std::copy(t.text, t.text + t.len, out.texts_.begin() + static_cast<std::ptrdiff_t>(at));
      t.text = out.texts_.data() + at;
      at += t.len;
    } else {
      t.text = "";
    }
    out.tokens_.push_back(t);
  }
  return out;
}

OwnedTokens json_to_tokens(const json& doc) {
  std::vector<JsonToken> tokens;
  // Strings and keys point into `doc`, numbers into their text here, until copy_of copies them.
  std::vector<std::unique_ptr<std::string>> owned;
  auto text_token = [&](JsonTokenKind kind, const std::string& s) { tokens.push_back({kind, s.data(), s.size()}); };
  // Iterative: a stack of (container, next member or element).
  struct Frame {
    const json* container;
    json::const_iterator next;
  };
  auto scalar = [&](const json& v) {
    switch (v.type()) {
      case json::value_t::string: text_token(JsonTokenKind::String, v.get_ref<const std::string&>()); break;
      case json::value_t::boolean: tokens.push_back({v.get<bool>() ? JsonTokenKind::True : JsonTokenKind::False, "", 0}); break;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float: {
        owned.push_back(std::make_unique<std::string>(v.dump()));
        text_token(JsonTokenKind::Number, *owned.back());
        break;
      }
      default: tokens.push_back({JsonTokenKind::Null, "", 0}); break;
    }
  };
  std::vector<Frame> stack;
  auto open = [&](const json& v) {
    if (v.is_object() || v.is_array()) {
      tokens.push_back({v.is_object() ? JsonTokenKind::BeginObject : JsonTokenKind::BeginArray, "", 0});
      stack.push_back({&v, v.cbegin()});
    } else {
      scalar(v);
    }
  };
  open(doc);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == f.container->cend()) {
      tokens.push_back({f.container->is_object() ? JsonTokenKind::EndObject : JsonTokenKind::EndArray, "", 0});
      stack.pop_back();
      continue;
    }
    const json::const_iterator it = f.next++;
    if (f.container->is_object()) text_token(JsonTokenKind::Key, it.key());
    open(*it);  // may grow the stack: f is not used after this
  }
  return OwnedTokens::copy_of(tokens.data(), tokens.size());
}

std::size_t json_value_end(const JsonToken* tokens, std::size_t count, std::size_t begin) {
  if (begin >= count) return count;
  const JsonTokenKind k = tokens[begin].kind;
  if (k != JsonTokenKind::BeginObject && k != JsonTokenKind::BeginArray) return begin + 1;
  const std::size_t end = json_container_end(tokens, count, begin);
  return end == count ? count : end + 1;
}

std::optional<std::pair<std::size_t, std::size_t>> json_member_tokens(const JsonToken* tokens, std::size_t count,
                                                                      std::string_view key) {
  if (count == 0 || tokens[0].kind != JsonTokenKind::BeginObject) return std::nullopt;
  std::optional<std::pair<std::size_t, std::size_t>> found;
  std::size_t i = 1;
  while (i < count && tokens[i].kind == JsonTokenKind::Key) {
    const std::size_t end = json_value_end(tokens, count, i + 1);
    if (std::string_view(tokens[i].text, tokens[i].len) == key && i + 1 < end) found = std::make_pair(i + 1, end);
    i = end;
  }
  return found;
}

}  // namespace plane
