#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/digest.hpp"

#include <openssl/sha.h>

namespace plane {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * static_cast<size_t>(SHA256_DIGEST_LENGTH));
  for (unsigned char byte : digest) {
    out.push_back(hex[byte >> 4]);
    out.push_back(hex[byte & 0xF]);
  }
  return out;
}

}  // namespace plane
