// Unit tests for src/core/cjk: runs of CJK characters become one token per character, so that
// full-text search finds words inside them (see cjk.hpp).
#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "core/cjk.hpp"

namespace {

TEST(SplitCjk, RunsBecomeCharacters) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(plane::split_cjk("検索機能"), (V{"検", "索", "機", "能"}));
  EXPECT_EQ(plane::split_cjk("Plane検索v2"), (V{"Plane", "検", "索", "v2"}));
  EXPECT_EQ(plane::split_cjk("버그"), (V{"버", "그"}));
  EXPECT_EQ(plane::split_cjk("カタカナ"), (V{"カ", "タ", "カ", "ナ"}));
  EXPECT_EQ(plane::split_cjk("größe"), (V{"größe"}));
  EXPECT_EQ(plane::split_cjk(""), V{});
  EXPECT_EQ(plane::split_cjk("\xF0\xA0\x80\x80x"), (V{"\xF0\xA0\x80\x80", "x"}));  // U+20000
}

TEST(ContainsCjk, AnyCharacter) {
  EXPECT_TRUE(plane::contains_cjk("abc検"));
  EXPECT_TRUE(plane::contains_cjk("한"));
  EXPECT_FALSE(plane::contains_cjk("größe 🚀"));
  EXPECT_FALSE(plane::contains_cjk(""));
}

TEST(IsCjk, Blocks) {
  EXPECT_TRUE(plane::is_cjk(U'検'));
  EXPECT_TRUE(plane::is_cjk(U'の'));
  EXPECT_TRUE(plane::is_cjk(U'한'));
  EXPECT_TRUE(plane::is_cjk(0x20000));
  EXPECT_FALSE(plane::is_cjk(U'a'));
  EXPECT_FALSE(plane::is_cjk(U'é'));
  EXPECT_FALSE(plane::is_cjk(U'。'));  // punctuation: the parser's business, not a character token
  EXPECT_FALSE(plane::is_cjk(0x1F680));
}

}  // namespace
