// libFuzzer target for src/core/oauth: whatever a (hostile or broken) Plane OAuth server answers,
// the token-endpoint grants and the app-installation lookup either return a usable result or throw
// PlaneError, and no error message quotes the client secret, the code, the refresh token or the
// bearer token that went into the request. Build and run: see test/fuzz/README.md.
//
// Input layout: byte 0 picks the HTTP status (mod 5: 200, 400, 401, 429, 500), byte 1 picks the
// call (mod 4: exchange_code, refresh_tokens, bot_token, app_installation_workspace; bit 2 sends the
// bearer with a "Bearer " prefix), the rest is the response body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/errors.hpp"
#include "core/http.hpp"
#include "core/oauth.hpp"

namespace {

// Distinctive values: none of them may ever appear in an error message.
const std::string kClientId = "plane_client_id";
const std::string kSecret = "SECRETxyz";
const std::string kCode = "CODExyz123";
const std::string kRefresh = "REFRESHxyz";
const std::string kBearer = "BEARERxyz";
const std::string kInstallation = "inst-1";
const std::string kBase = "https://plane.example.com/";

void check(bool ok) {
  if (!ok) abort();
}

bool has_control(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

class FakeTransport final : public plane::HttpTransport {
 public:
  FakeTransport(long status, std::string_view body) : status_(status), body_(body) {}

  plane::HttpResponse perform(const plane::HttpRequest& request) override {
    ++calls;
    check(calls == 1);  // no OAuth call retries
    check(request.url.rfind("https://plane.example.com/auth/o/", 0) == 0);
    for (const auto& [name, value] : request.headers) check(!has_control(name) && !has_control(value));
    plane::HttpResponse response;
    response.status = status_;
    response.headers.emplace_back("content-type", "application/json");
    response.body.assign(body_.data(), body_.size());
    return response;
  }

  int calls = 0;

 private:
  long status_;
  std::string_view body_;
};

void check_tokens(const plane::OAuthTokens& tokens) {
  check(!tokens.access_token.empty());
  check(!tokens.token_type.empty());
  check(tokens.expires_in >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const long kStatuses[] = {200, 400, 401, 429, 500};
  const long status = kStatuses[data[0] % 5];
  const unsigned call = data[1] % 4;
  const bool prefixed_bearer = (data[1] & 4) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);

  FakeTransport transport(status, body);
  try {
    switch (call) {
      case 0: {
        plane::OAuthTokens t = plane::exchange_code(transport, kBase, kClientId, kSecret, kCode,
                                                    "https://db.example.com/cb");
        check_tokens(t);
        break;
      }
      case 1: {
        plane::OAuthTokens t = plane::refresh_tokens(transport, kBase, kClientId, kSecret, kRefresh);
        check_tokens(t);
        break;
      }
      case 2: {
        plane::OAuthTokens t =
            plane::bot_token(transport, kBase, kClientId, kSecret, kInstallation, "read");
        check_tokens(t);
        break;
      }
      default: {
        const std::string slug = plane::app_installation_workspace(
            transport, kBase, prefixed_bearer ? "Bearer " + kBearer : kBearer, kInstallation);
        check(!slug.empty());
        break;
      }
    }
    check(status == 200);  // an error status never yields a result
  } catch (const plane::PlaneError& e) {
    const std::string_view what = e.what();
    check(!what.empty());
    // Only the values this call was given are secret to it (a bot_token error may well quote
    // "REFRESHxyz" if the server says so: the call never knew that value).
    const std::string* const given[4][2] = {
        {&kSecret, &kCode}, {&kSecret, &kRefresh}, {&kSecret, &kSecret}, {&kBearer, &kBearer}};
    for (const std::string* secret : given[call]) check(what.find(*secret) == std::string_view::npos);
    check(e.kind() != plane::ErrorKind::Internal && e.kind() != plane::ErrorKind::Config);
    // (No status-to-kind check: {"error":"invalid_client"} is Auth whatever the status.)
  } catch (...) {
    abort();  // anything but PlaneError (nlohmann's json::exception, std::out_of_range, ...)
  }
  check(transport.calls == 1);
  return 0;
}
