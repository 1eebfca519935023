#pragma once

#include <string_view>

namespace plane {

// A workspace slug as the connector accepts it (the tenant key of every table): 1–48 characters,
// ASCII letters, digits, '_' and '-', starting with a letter or digit. Checked before a slug is
// used in a Vault secret name or answered for; a hand-written scan because it runs on every
// webhook delivery, where std::regex cost more than the rest of the syntax checks together.
bool valid_workspace_slug(std::string_view slug);

}  // namespace plane
