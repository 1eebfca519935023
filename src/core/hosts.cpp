#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/hosts.hpp"

#include <arpa/inet.h>

#include <cstdlib>

#include "core/text.hpp"

namespace plane {

std::optional<HttpUrl> parse_http_url(std::string_view url) {
  HttpUrl out;
  const auto colon = url.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  out.scheme = ascii_lower(url.substr(0, colon));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  std::string_view rest = url.substr(colon + 3);
  const auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
    }
  } else if (const auto c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return std::nullopt;
  if (!port.empty()) {
    int p = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9' || p > 65535) return std::nullopt;
      p = p * 10 + (ch - '0');
    }
    if (p < 1 || p > 65535) return std::nullopt;
    out.port = p;
  }
  out.host = ascii_lower(host);
  while (!out.host.empty() && out.host.back() == '.') out.host.pop_back();  // "host." is "host"
  if (out.host.empty()) return std::nullopt;
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  const std::string text(host);
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return false;
}

std::vector<std::string> parse_host_list(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(ascii_lower(current));
    current.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n') {
      flush();
    } else {
      current += c;
    }
  }
  flush();
  return out;
}

bool host_allowed(std::string_view host, const std::vector<std::string>& allowed) {
  const std::string h = ascii_lower(host);
  for (const auto& entry : allowed) {
    if (entry.size() > 2 && entry[0] == '*' && entry[1] == '.') {
      const std::string_view suffix = std::string_view(entry).substr(1);  // ".example.com"
      if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return true;
      }
    } else if (h == entry) {
      return true;
    }
  }
  return false;
}

bool same_origin(std::string_view a, std::string_view b) {
  const std::optional<HttpUrl> x = parse_http_url(a);
  const std::optional<HttpUrl> y = parse_http_url(b);
  if (!x || !y) return false;
  auto port = [](const HttpUrl& u) { return u.port != 0 ? u.port : (u.scheme == "https" ? 443 : 80); };
  return x->scheme == y->scheme && x->host == y->host && port(*x) == port(*y);
}

std::string credential_url_problem(std::string_view url, const std::vector<std::string>& allowed,
                                   std::string_view setting) {
  const std::optional<HttpUrl> parsed = parse_http_url(url);
  if (!parsed) return "\"" + truncate_utf8(url, 200) + "\" is not an http(s) URL";
  if (!host_allowed(parsed->host, allowed)) {
    return "host \"" + truncate_utf8(parsed->host, 200) + "\" is not in " + std::string(setting) +
           " (the hosts that may receive Plane credentials)";
  }
  if (parsed->scheme != "https" && !is_loopback_host(parsed->host)) {
    return "credentials are sent over https only (plain http only to loopback), not to \"" +
           truncate_utf8(url, 200) + "\"";
  }
  return "";
}

}  // namespace plane
