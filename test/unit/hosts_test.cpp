// Unit tests for src/core/hosts: which URLs may receive a credential. The parser must agree with
// what an HTTP client would connect to (userinfo refused, ports, IPv6, a trailing dot), the
// allow-list matches exact names and "*." subdomains, and plain http goes only to loopback.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/hosts.hpp"

namespace {

using plane::HttpUrl;
using Hosts = std::vector<std::string>;

void expect_url(const char* url, const char* scheme, const char* host, int port) {
  SCOPED_TRACE(url);
  const std::optional<HttpUrl> u = plane::parse_http_url(url);
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->scheme, scheme);
  EXPECT_EQ(u->host, host);
  EXPECT_EQ(u->port, port);
}

TEST(ParseHttpUrl, SchemeHostAndPort) {
  expect_url("https://api.plane.so", "https", "api.plane.so", 0);
  expect_url("https://api.plane.so/api/v1/?a=b#c", "https", "api.plane.so", 0);
  expect_url("HTTPS://API.Plane.SO:8443/x", "https", "api.plane.so", 8443);
  expect_url("http://plane.internal:1", "http", "plane.internal", 1);
  expect_url("http://plane.internal:65535/", "http", "plane.internal", 65535);
  expect_url("http://plane.internal:/", "http", "plane.internal", 0);  // an empty port is the default
  expect_url("https://h?x=1", "https", "h", 0);
  expect_url("https://h#frag", "https", "h", 0);
}

TEST(ParseHttpUrl, PortsOutOfRangeOrNotNumbersAreRefused) {
  for (const char* url : {"https://h:0", "https://h:65536", "https://h:99999999999999999999",
                          "https://h:8o80", "https://h:-1", "https://h: 80", "https://h:+80"}) {
    EXPECT_FALSE(plane::parse_http_url(url).has_value()) << url;
  }
}

TEST(ParseHttpUrl, IPv6InBrackets) {
  expect_url("http://[::1]:8080/mcp", "http", "::1", 8080);
  expect_url("https://[2001:DB8::1]", "https", "2001:db8::1", 0);
  expect_url("http://[::1]:/", "http", "::1", 0);  // an empty port, as without brackets
  for (const char* url : {"http://[::1", "http://[::1]x", "http://[::1]8080", "http://[]:80", "http://[::1]:0"}) {
    EXPECT_FALSE(plane::parse_http_url(url).has_value()) << url;
  }
}

TEST(ParseHttpUrl, UserinfoIsRefusedWhereverItHides) {
  for (const char* url : {"https://user:pw@api.plane.so/", "https://api.plane.so@evil.example.com/",
                          "https://@api.plane.so", "https://evil.example.com\\@api.plane.so/"}) {
    EXPECT_FALSE(plane::parse_http_url(url).has_value()) << url;
  }
  // After the authority an '@' is path or query: the host is what comes before.
  expect_url("https://evil.example.com/@api.plane.so", "https", "evil.example.com", 0);
  expect_url("https://evil.example.com?@api.plane.so", "https", "evil.example.com", 0);
  expect_url("https://evil.example.com#@api.plane.so", "https", "evil.example.com", 0);
}

TEST(ParseHttpUrl, ATrailingDotNamesTheSameHost) {
  expect_url("https://api.plane.so./", "https", "api.plane.so", 0);
  expect_url("https://api.plane.so..:443", "https", "api.plane.so", 443);
  EXPECT_FALSE(plane::parse_http_url("https://./").has_value());
  EXPECT_FALSE(plane::parse_http_url("https://...:80").has_value());
}

TEST(ParseHttpUrl, WhatIsNotAnHttpUrlIsRefused) {
  for (const char* url : {"", "api.plane.so", "//api.plane.so", "ftp://api.plane.so", "file:///etc/passwd",
                          "https://", "https://:443", "httpx://h"}) {
    EXPECT_FALSE(plane::parse_http_url(url).has_value()) << url;
  }
}

// The URL is read as libcurl reads it when it sends the request, so that the host checked is the
// host connected to: libcurl takes a missing or extra slash after the scheme in its stride.
TEST(ParseHttpUrl, TheHostIsTheOneLibcurlWouldConnectTo) {
  expect_url("https:///path", "https", "path", 0);
  expect_url("https:/h", "https", "h", 0);
  expect_url("https:/api.plane.so/api/v1/", "https", "api.plane.so", 0);
}

TEST(IsLoopbackHost, LocalhostThe127NetworkAndIPv6Loopback) {
  for (const char* host : {"localhost", "127.0.0.1", "127.0.0.2", "127.255.255.254", "::1"}) {
    EXPECT_TRUE(plane::is_loopback_host(host)) << host;
  }
  for (const char* host : {"128.0.0.1", "126.255.255.255", "0.0.0.0", "10.0.0.1", "localhost.example.com",
                           "127.0.0.1.nip.io", "127.1", "::", "::2", "[::1]", "", "api.plane.so"}) {
    EXPECT_FALSE(plane::is_loopback_host(host)) << host;
  }
}

TEST(ParseHostList, CommasAndBlanksSeparateAndNamesAreLowerCased) {
  EXPECT_EQ(plane::parse_host_list("api.plane.so, MCP.Plane.so\t*.Example.com\nlocalhost"),
            (Hosts{"api.plane.so", "mcp.plane.so", "*.example.com", "localhost"}));
  EXPECT_EQ(plane::parse_host_list(""), Hosts{});
  EXPECT_EQ(plane::parse_host_list(" ,, \t,\n"), Hosts{});
  EXPECT_EQ(plane::parse_host_list("one"), Hosts{"one"});
}

TEST(HostAllowed, ExactNamesAndWildcardSubdomains) {
  const Hosts allowed = {"api.plane.so", "*.example.com"};
  EXPECT_TRUE(plane::host_allowed("api.plane.so", allowed));
  EXPECT_TRUE(plane::host_allowed("API.Plane.SO", allowed));
  EXPECT_TRUE(plane::host_allowed("a.example.com", allowed));
  EXPECT_TRUE(plane::host_allowed("a.b.example.com", allowed));
  EXPECT_FALSE(plane::host_allowed("example.com", allowed));  // the wildcard is for subdomains only
  EXPECT_FALSE(plane::host_allowed("badexample.com", allowed));
  EXPECT_FALSE(plane::host_allowed("example.com.evil.net", allowed));
  EXPECT_FALSE(plane::host_allowed("eu.api.plane.so", allowed));  // exact means exact
  EXPECT_FALSE(plane::host_allowed("plane.so", allowed));
  EXPECT_FALSE(plane::host_allowed("api.plane.so", {}));
  EXPECT_FALSE(plane::host_allowed("x", {"*."}));  // not a wildcard, and no such host
  EXPECT_FALSE(plane::host_allowed(".example.com", {"*.example.com"}));
}

TEST(SameOrigin, SchemeHostAndEffectivePort) {
  EXPECT_TRUE(plane::same_origin("https://api.plane.so", "https://api.plane.so:443/api/v1/"));
  EXPECT_TRUE(plane::same_origin("http://h", "http://h:80"));
  EXPECT_TRUE(plane::same_origin("HTTPS://API.plane.so", "https://api.plane.so."));
  EXPECT_FALSE(plane::same_origin("https://api.plane.so", "http://api.plane.so"));
  EXPECT_FALSE(plane::same_origin("https://api.plane.so", "https://api.plane.so:8443"));
  EXPECT_FALSE(plane::same_origin("http://h:443", "https://h"));
  EXPECT_FALSE(plane::same_origin("https://api.plane.so", "https://mcp.plane.so"));
  EXPECT_FALSE(plane::same_origin("https://u@api.plane.so", "https://api.plane.so"));
  EXPECT_FALSE(plane::same_origin("", ""));
}

TEST(CredentialUrlProblem, SaysWhyAndNamesTheSetting) {
  const Hosts allowed = {"api.plane.so", "plane.internal", "127.0.0.1", "localhost", "::1"};
  for (const char* url : {"https://api.plane.so", "https://plane.internal:8443/", "http://127.0.0.1:8000",
                          "http://localhost:3000/", "http://[::1]:8080"}) {
    EXPECT_EQ(plane::credential_url_problem(url, allowed, "plane.allowed_hosts"), "") << url;
  }
  std::string p = plane::credential_url_problem("https://evil.example.com/x", allowed, "plane.allowed_hosts");
  EXPECT_EQ(p, "host \"evil.example.com\" is not in plane.allowed_hosts (the hosts that may receive Plane credentials)");
  p = plane::credential_url_problem("http://plane.internal/", allowed, "plane.mcp_hosts");
  EXPECT_EQ(p, "credentials are sent over https only (plain http only to loopback), not to \"http://plane.internal/\"");
  p = plane::credential_url_problem("https://user@api.plane.so", allowed, "plane.allowed_hosts");
  EXPECT_EQ(p, "\"https://user@api.plane.so\" is not an http(s) URL");
  // The host check comes first: plain http to an unlisted host names the list.
  p = plane::credential_url_problem("http://evil.example.com", allowed, "plane.allowed_hosts");
  EXPECT_NE(p.find("is not in plane.allowed_hosts"), std::string::npos) << p;
  // Loopback is no exemption from the list.
  EXPECT_NE(plane::credential_url_problem("http://127.0.0.1", {"api.plane.so"}, "s"), "");
  // A long URL is quoted cut, on a character boundary.
  const std::string long_url = "ftp://" + std::string(300, 'x') + "\xC3\xA9";
  p = plane::credential_url_problem(long_url, allowed, "s");
  EXPECT_LT(p.size(), 250u);
  EXPECT_NE(p.find("...\" is not an http(s) URL"), std::string::npos) << p;
}

}  // namespace
