// Unit tests for src/core/json_parse: the simdjson-backed parse gives exactly nlohmann's parse
// (document, number kinds, and the discarded value for what is not JSON), edge cases included.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "core/json_parse.hpp"

namespace {

using nlohmann::json;

json reference(const std::string& text) { return json::parse(text, nullptr, false); }

void expect_same(const std::string& text) {
  const json want = reference(text);
  const json got = plane::parse_json(text);
  ASSERT_EQ(got.is_discarded(), want.is_discarded()) << text;
  if (want.is_discarded()) return;
  EXPECT_EQ(got, want) << text;
  EXPECT_EQ(got.dump(), want.dump()) << text;
  EXPECT_EQ(got.is_number_float(), want.is_number_float()) << text;
}

TEST(ParseJson, DocumentsLikeNlohmanns) {
  for (const char* text : {
           R"({"results": [{"id": "a", "n": 1, "f": 1.5, "neg": -3, "z": 0.0, "e": 1e3, "t": true,
              "nil": null, "s": "caf\u00e9 \ud83d\ude00 \n\"", "nested": {"a": [1, [2, {"b": {}}]]}}],
              "next_cursor": "100:1:0", "next_page_results": false})",
           "[]", "{}", "  [1, 2]  ", "\"text\"", "42", "-0", "-0.0", "65535.0", "1e-400",
           "18446744073709551615", "18446744073709551616", "-9223372036854775808",
           "-9223372036854775809", "0.1", "123456789012345678901234567890",
           R"({"a": 1, "a": 2})", R"({"k": "a\u0000b"})", "[1.7976931348623157e308]",
       }) {
    expect_same(text);
  }
}

TEST(ParseJson, NotJsonIsDiscardedLikeNlohmanns) {
  for (const char* text : {"", " ", "[1] 2", "{", "[1,]", "{\"a\" 1}", "1e400", "NaN", "[Infinity]",
                           "\"\\ud800\"", "\"\\udc00x\"", "\"\xff\"", "\"\xc3\"", "'single'", "[01]",
                           "tru", "\"tab\tinside\""}) {
    expect_same(text);
  }
  EXPECT_TRUE(plane::parse_json("[1] 2").is_discarded());
}

TEST(ParseJson, NumberKindsFollowNlohmann) {
  EXPECT_TRUE(plane::parse_json("5").is_number_unsigned());
  EXPECT_TRUE(plane::parse_json("-5").is_number_integer());
  EXPECT_FALSE(plane::parse_json("-5").is_number_unsigned());
  EXPECT_TRUE(plane::parse_json("5.0").is_number_float());
  EXPECT_EQ(plane::parse_json("[65535.0]").dump(), "[65535.0]");
  EXPECT_TRUE(std::signbit(plane::parse_json("-0.0").get<double>()));
}

TEST(ParseJson, BigDocumentsAndReuse) {
  // 20,000 items fit the kept parser; 100,000 (over 1 MiB) get a parser of their own.
  for (const int n : {20000, 100000}) {
    std::string text = "[";
    for (int i = 0; i < n; ++i) text += (i ? "," : "") + std::string(R"({"id": ")") + std::to_string(i) + "\"}";
    text += "]";
    const json doc = plane::parse_json(text);
    ASSERT_EQ(doc.size(), static_cast<std::size_t>(n));
    EXPECT_EQ(doc[n - 1]["id"], std::to_string(n - 1));
    expect_same(R"({"small": "after a big one"})");
    expect_same(text.substr(0, text.size() - 1));  // unclosed: nlohmann's verdict
  }
}

}  // namespace
