// Unit tests for src/core/text: truncate_utf8 never cuts a UTF-8 character (a cut one is invalid
// UTF-8, which Postgres refuses to store or log), counts the ellipsis in the budget and leaves text
// that fits alone; and the ASCII helpers.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "core/text.hpp"

namespace {

using plane::truncate_utf8;

// Whether s is a sequence of whole UTF-8 characters (by their lead bytes; no overlong checks).
bool whole_characters(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

const std::string kE = "\xC3\xA9";             // é, 2 bytes
const std::string kEuro = "\xE2\x82\xAC";      // €, 3 bytes
const std::string kFace = "\xF0\x9F\x98\x80";  // 😀, 4 bytes

TEST(TruncateUtf8, TextThatFitsIsLeftAloneWithoutAnEllipsis) {
  EXPECT_EQ(truncate_utf8("", 0), "");
  EXPECT_EQ(truncate_utf8("abc", 3), "abc");  // an exact fit
  EXPECT_EQ(truncate_utf8("abc", 100), "abc");
  EXPECT_EQ(truncate_utf8(kFace, 4), kFace);
  EXPECT_EQ(truncate_utf8(kE + kEuro + kFace, 9), kE + kEuro + kFace);
}

TEST(TruncateUtf8, TheEllipsisCountsInTheBudget) {
  EXPECT_EQ(truncate_utf8("abcdef", 5), "ab...");
  EXPECT_EQ(truncate_utf8("abcdef", 3), "...");
  EXPECT_EQ(truncate_utf8("abcdef", 4, "…"), "a…");  // a 3-byte ellipsis
  EXPECT_EQ(truncate_utf8("abcdef", 4, ""), "abcd");
  // A budget smaller than the ellipsis gives nothing rather than more than the budget.
  EXPECT_EQ(truncate_utf8("abcdef", 2), "");
  EXPECT_EQ(truncate_utf8("abcdef", 0), "");
}

TEST(TruncateUtf8, NeverSplitsATwoThreeOrFourByteCharacter) {
  // "a" then the character: a cut inside it backs up to before it.
  for (const std::string& ch : {kE, kEuro, kFace}) {
    SCOPED_TRACE(ch.size());
    const std::string text = "a" + ch + "zzzz";
    for (std::size_t cut = 1; cut < ch.size() + 1; ++cut) {
      EXPECT_EQ(truncate_utf8(text, cut, ""), "a") << cut;
    }
    EXPECT_EQ(truncate_utf8(text, 1 + ch.size(), ""), "a" + ch);  // exactly up to its end
    EXPECT_EQ(truncate_utf8(text, 3 + 1 + ch.size() - 1, "..."), "a...");
    EXPECT_EQ(truncate_utf8(text, 3 + 1 + ch.size(), "..."), "a" + ch + "...");
  }
}

TEST(TruncateUtf8, EveryBudgetGivesTheLongestWholePrefixThatFits) {
  const std::string text = "a" + kE + kEuro + "b" + kFace + kE + "cd" + kEuro + kFace;
  for (const std::string ellipsis : {"", "...", "\xE2\x80\xA6"}) {
    for (std::size_t max = 0; max <= text.size() + 1; ++max) {
      SCOPED_TRACE(std::to_string(max) + " bytes, ellipsis of " + std::to_string(ellipsis.size()));
      const std::string out = truncate_utf8(text, max, ellipsis);
      EXPECT_LE(out.size(), max);
      EXPECT_TRUE(whole_characters(out));
      if (max >= text.size()) {
        EXPECT_EQ(out, text);
        continue;
      }
      if (max < ellipsis.size()) {
        EXPECT_EQ(out, "");
        continue;
      }
      ASSERT_GE(out.size(), ellipsis.size());
      EXPECT_EQ(out.substr(out.size() - ellipsis.size()), ellipsis);
      const std::string prefix = out.substr(0, out.size() - ellipsis.size());
      EXPECT_EQ(text.compare(0, prefix.size(), prefix), 0);
      // The longest: the next character would not have fitted.
      std::size_t next = prefix.size() + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      EXPECT_GT(next + ellipsis.size(), max);
    }
  }
}

TEST(AsciiHelpers, CaseFoldingOnlyForAscii) {
  EXPECT_EQ(plane::ascii_lower("X-Plane-Signature"), "x-plane-signature");
  EXPECT_EQ(plane::ascii_lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");  // É untouched
  EXPECT_TRUE(plane::ascii_iequals("Content-Type", "content-TYPE"));
  EXPECT_FALSE(plane::ascii_iequals("Content-Type", "Content-Types"));
  EXPECT_FALSE(plane::ascii_iequals("a", "b"));
  EXPECT_EQ(plane::trim_blanks(" \t value \t"), "value");
  EXPECT_EQ(plane::trim_blanks("\t \t"), "");
  EXPECT_EQ(plane::trim_blanks("\nx\n"), "\nx\n");  // only spaces and tabs
}

}  // namespace
