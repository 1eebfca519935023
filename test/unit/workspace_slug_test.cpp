// Unit tests for src/core/workspace_slug: the slug syntax every SQL entry point checks.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "core/workspace_slug.hpp"

namespace {

TEST(WorkspaceSlug, AcceptsLettersDigitsDashAndUnderscore) {
  for (const std::string& s : std::initializer_list<std::string>{"a", "acme", "Acme-2", "a_b-c", "0day", std::string(48, 'x')}) {
    EXPECT_TRUE(plane::valid_workspace_slug(s)) << s;
  }
}

TEST(WorkspaceSlug, RefusesEverythingElse) {
  for (const std::string& s : std::initializer_list<std::string>{"", "-acme", "_acme", "ac me", "acme/", "acme:x", "acmé", "a.b",
                              "a\nb", std::string(49, 'x'), std::string("a\0b", 3)}) {
    EXPECT_FALSE(plane::valid_workspace_slug(s)) << s;
  }
}

}  // namespace
