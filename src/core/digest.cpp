#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/digest.hpp"

#include <openssl/evp.h>

#include <memory>

#include "core/errors.hpp"

namespace plane {

namespace {

// SHA-256 fetched once per process: OpenSSL 3's one-shot SHA256() fetches the implementation on
// every call, which for the short texts hashed here (idempotency keys) costs more than the hashing.
// Never freed: it lives as long as the process (freeing it at exit could run after OpenSSL's own
// cleanup).
const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw PlaneError(ErrorKind::Internal, "SHA-256 unavailable (OpenSSL)");
  return md;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  // One context per thread, reset by each EVP_DigestInit_ex2: no allocation per call.
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                                &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1) {
    throw PlaneError(ErrorKind::Internal, "SHA-256 failed (OpenSSL)");
  }
  return to_hex(digest, len);
}

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace plane
