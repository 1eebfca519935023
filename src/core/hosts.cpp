#include "core/cpp_only.hpp"  // must come first: this file must not see Postgres headers
#include "core/hosts.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cstdlib>

#include "core/text.hpp"

namespace plane {

namespace {

// libcurl's URL handle, freed with its owner.
struct CurlUrl {
  CURLU* handle = curl_url();
  CurlUrl() = default;
  CurlUrl(const CurlUrl&) = delete;
  CurlUrl& operator=(const CurlUrl&) = delete;
  ~CurlUrl() { curl_url_cleanup(handle); }

  // A part of the URL as libcurl reads it; nullopt when absent.
  std::optional<std::string> part(CURLUPart which, unsigned int flags = 0) const {
    char* text = nullptr;
    if (curl_url_get(handle, which, &text, flags) != CURLUE_OK || text == nullptr) return std::nullopt;
    std::string out(text);
    curl_free(text);
    return out;
  }
};

}  // namespace

// Read by libcurl's own URL parser, the one that reads the URL again when a request is sent: a
// check by a parser of our own could name a different host than the one connected to.
std::optional<HttpUrl> parse_http_url(std::string_view url) {
  CurlUrl parsed;
  if (parsed.handle == nullptr) return std::nullopt;
  // A NUL inside would end the text libcurl reads early: the part after it would go unchecked.
  if (url.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string text(url);
  if (curl_url_set(parsed.handle, CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return std::nullopt;
  }
  HttpUrl out;
  std::optional<std::string> scheme = parsed.part(CURLUPART_SCHEME);
  if (!scheme) return std::nullopt;
  out.scheme = ascii_lower(*scheme);
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  // Userinfo in front of the host ("https://api.plane.so@evil.example.com"), even empty.
  if (parsed.part(CURLUPART_USER) || parsed.part(CURLUPART_PASSWORD) || parsed.part(CURLUPART_OPTIONS)) {
    return std::nullopt;
  }
  const std::size_t authority_end = text.find_first_of("/?#", text.find("://") + 3);
  if (text.substr(0, authority_end).find('@') != std::string::npos) return std::nullopt;
  std::optional<std::string> host = parsed.part(CURLUPART_HOST);
  if (!host) return std::nullopt;
  std::string h = ascii_lower(*host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);  // IPv6
  while (!h.empty() && h.back() == '.') h.pop_back();  // "host." is "host"
  if (h.empty()) return std::nullopt;
  out.host = std::move(h);
  if (std::optional<std::string> port = parsed.part(CURLUPART_PORT)) {
    const long p = std::strtol(port->c_str(), nullptr, 10);
    if (p < 1 || p > 65535) return std::nullopt;
    out.port = static_cast<int>(p);
  }
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
