#pragma once

// A JSON document as a flat token stream, and the nlohmann::json built from it. The Postgres layer
// flattens a jsonb value into tokens (no text in between: jsonb -> text -> JSON parser costs more
// than the work done with the document); the core builds the document here, in plain C++.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace plane {

enum class JsonTokenKind : unsigned char {
  BeginObject,
  EndObject,
  BeginArray,
  EndArray,
  Key,     // text: the member name
  String,  // text: the value, unescaped
  Number,  // text: the number as JSON text ("42", "-1.5", "1e+30")
  True,
  False,
  Null,
};

// Plain data (the Postgres layer allocates arrays of it with palloc). text is not NUL-terminated.
struct JsonToken {
  JsonTokenKind kind;
  const char* text;
  std::size_t len;
};

// The index of the token that closes the container opened at tokens[begin] (count if it is never
// closed); `depth`, when given, receives the container's own nesting (1 for a flat one).
std::size_t json_container_end(const JsonToken* tokens, std::size_t count, std::size_t begin,
                               int* depth = nullptr);

// A number token's value, read as nlohmann reads the text. Throws PlaneError(Parse) for a number
// JSON cannot represent.
nlohmann::json json_number(const JsonToken& token);

// The document the tokens describe. Throws PlaneError(Parse) when they do not form exactly one JSON
// value, nest deeper than max_depth, or hold a number JSON cannot represent (as parsing its text
// would). Iterative: no recursion however deep the input.
nlohmann::json json_from_tokens(const JsonToken* tokens, std::size_t count, int max_depth);

// The same, pruned: a container nested deeper than keep_depth (the top-level value is depth 1)
// becomes null, unless it lies inside the top-level object's member named whole_member. When
// deep_members is not empty, an object at depth keep_depth (outside whole_member) keeps only the
// members named there; of the others, the first stays with a null value, so that the object's
// emptiness still reads true, and the rest are dropped unbuilt. For a reader that needs only a
// few members of the outer levels (a webhook envelope), at a fraction of the cost. Pruned and
// dropped values still count towards max_depth.
nlohmann::json json_from_tokens_pruned(const JsonToken* tokens, std::size_t count, int max_depth,
                                       int keep_depth, std::string_view whole_member,
                                       std::initializer_list<std::string_view> deep_members = {});

// A token stream that owns its texts: what the queue keeps of a claimed payload, and what
// rest_shape_tokens makes of one (webhook_change.hpp). Moving it keeps the tokens valid.
class OwnedTokens {
 public:
  OwnedTokens() = default;
  OwnedTokens(const OwnedTokens& other) : OwnedTokens(copy_of(other.data(), other.size())) {}
  OwnedTokens& operator=(const OwnedTokens& other) {
    if (this != &other) *this = copy_of(other.data(), other.size());
    return *this;
  }
  OwnedTokens(OwnedTokens&&) noexcept = default;
  OwnedTokens& operator=(OwnedTokens&&) noexcept = default;
  ~OwnedTokens() = default;
  // A copy of `count` tokens and of every text they point to.
  static OwnedTokens copy_of(const JsonToken* tokens, std::size_t count);

  const JsonToken* data() const { return tokens_.data(); }
  std::size_t size() const { return tokens_.size(); }
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<JsonToken> tokens_;
  std::vector<char> texts_;  // a vector, not a string: moving it never moves the characters
};

// The tokens of a document (objects' members in nlohmann's order). For tests and for events that
// arrive as documents.
OwnedTokens json_to_tokens(const nlohmann::json& doc);

// Where the value of the top-level object's member `key` lies in `tokens`: [first, last) token
// indexes; nullopt when the top level is not an object or has no such member (of repeated keys,
// the last).
std::optional<std::pair<std::size_t, std::size_t>> json_member_tokens(const JsonToken* tokens, std::size_t count,
                                                                      std::string_view key);

// The index one past the value that starts at tokens[begin] (a scalar, or a whole container).
std::size_t json_value_end(const JsonToken* tokens, std::size_t count, std::size_t begin);

}  // namespace plane
