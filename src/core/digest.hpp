#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plane {

// Lowercase hex SHA-256 of `data` (OpenSSL).
std::string sha256_hex(std::string_view data);

// Lowercase hex of n bytes (a digest or a MAC).
std::string to_hex(const unsigned char* bytes, std::size_t n);

}  // namespace plane
