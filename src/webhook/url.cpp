#include "webhook/url.hpp"

#include <algorithm>
#include <cctype>

#include "webhook/address.hpp"

namespace pw::webhook {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

UrlResult refuse(std::string error) { return UrlResult{std::nullopt, std::move(error)}; }

}  // namespace

UrlResult parse_url(std::string_view text) {
  if (text.empty()) return refuse("must not be empty");
  if (text.size() > max_url_bytes) return refuse("must be at most " + std::to_string(max_url_bytes) + " bytes");
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) return refuse("must be printable ASCII without spaces");
    if (c == '\\') return refuse("must not contain backslashes");
  }
  Url url;
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return refuse("must be an absolute http or https URL");
  url.scheme = lower(text.substr(0, scheme_end));
  if (url.scheme != "http" && url.scheme != "https") return refuse("must use http or https");
  std::string_view rest = text.substr(scheme_end + 3);
  if (rest.find('#') != std::string_view::npos) return refuse("must not contain a fragment");
  const auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view path = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return refuse("must not contain user information");
  if (authority.empty()) return refuse("must name a host");

  std::string_view port_text;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return refuse("has an unterminated IPv6 address");
    std::string literal(authority.substr(1, close - 1));
    auto literal_address = IpAddress::parse(literal);
    if (!literal_address || !literal_address->v6) return refuse("has an invalid IPv6 address");
    url.host = lower(literal);
    url.host_is_ipv6 = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refuse("has text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) return refuse("has an empty port");
    }
  } else {
    const auto colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return refuse("has an empty port");
    }
    if (host.empty()) return refuse("must name a host");
    if (host.size() > 253) return refuse("has a host name longer than 253 bytes");
    if (!std::all_of(host.begin(), host.end(), is_host_char)) return refuse("has an invalid host name");
    url.host = lower(host);
  }
  const int default_port = url.scheme == "https" ? 443 : 80;
  url.port = default_port;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      return refuse("has an invalid port");
    }
    url.port = std::stoi(std::string(port_text));
    if (url.port < 1 || url.port > 65535) return refuse("has a port outside 1..65535");
  }
  url.path = path.empty() ? "/" : (path.front() == '?' ? "/" + std::string(path) : std::string(path));
  url.authority = url.host_is_ipv6 ? "[" + url.host + "]" : url.host;
  if (url.port != default_port) url.authority += ":" + std::to_string(url.port);
  return UrlResult{std::move(url), {}};
}

}  // namespace pw::webhook
