#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/workspace_slug.hpp"

namespace plane {

namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

bool valid_workspace_slug(std::string_view slug) {
  if (slug.empty() || slug.size() > 48 || !alnum(slug.front())) return false;
  for (char c : slug) {
    if (!alnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace plane
