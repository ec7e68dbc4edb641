// Callback URLs, parsed strictly: what is accepted here is what the delivery
// sends (scheme, Host, path), and nothing a URL parser elsewhere could read
// differently (user information, backslashes, fragments, spaces).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pw::webhook {

inline constexpr std::size_t max_url_bytes = 2048;

struct Url {
  std::string scheme;        // "http" or "https"
  std::string host;          // as written, lower-cased, without brackets for IPv6
  int port = 0;              // explicit or the scheme's default
  std::string path;          // path and query, at least "/"
  std::string authority;     // host[:port] as it goes into the Host header
  bool host_is_ipv6 = false;
};

struct UrlResult {
  std::optional<Url> url;
  std::string error;  // why the text is refused, when url is empty
};

// Accepts http:// and https:// URLs with a host and an optional port; refuses
// user info (a@b), fragments, whitespace and control characters, and anything
// longer than max_url_bytes.
UrlResult parse_url(std::string_view text);

}  // namespace pw::webhook
