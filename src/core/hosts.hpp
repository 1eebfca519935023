// Which hosts may receive a credential. Every request to Plane carries an API key or token, and an
// OAuth renewal carries the client secret and the refresh token: a URL that a database role can
// set (an installation's api_url or mcp_url) must not be a way to send them to a server of that
// role's choosing. Credentials go only to hosts on an allow-list, over https (plain http only to
// this machine's loopback, where the bytes never leave the host).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plane {

struct HttpUrl {
  std::string scheme;  // "http" or "https", lower-cased
  std::string host;    // lower-cased; IPv6 without brackets
  int port = 0;        // 0: the scheme's default
};

// Parses "http(s)://host[:port][/path…]"; nullopt for anything else (userinfo, no host, …).
std::optional<HttpUrl> parse_http_url(std::string_view url);

// "localhost", 127.0.0.0/8, ::1.
bool is_loopback_host(std::string_view host);

// A comma- or space-separated list of host names ("api.plane.so, mcp.plane.so"); an entry
// "*.example.com" matches any subdomain of example.com (not example.com itself). Lower-cased.
std::vector<std::string> parse_host_list(std::string_view text);

bool host_allowed(std::string_view host, const std::vector<std::string>& allowed);

// Whether two http(s) URLs name the same host (and scheme and port): false if either does not parse.
bool same_origin(std::string_view a, std::string_view b);

// Why `url` may not receive credentials ("" when it may): not an http(s) URL, plain http to a
// host that is not loopback, or a host not on `allowed`. `setting` names the allow-list in the
// message ("plane.allowed_hosts").
std::string credential_url_problem(std::string_view url, const std::vector<std::string>& allowed,
                                   std::string_view setting);

}  // namespace plane
