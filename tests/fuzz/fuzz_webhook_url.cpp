// Callback URLs and the addresses they may reach. The parser accepts only
// what its contract allows and is stable (the URL rebuilt from what it
// parsed parses to the same thing); every address literal round-trips
// through text; and the classifier never lets through an address in a range
// webhooks must not reach, however the IPv4 address is wrapped in IPv6
// (mapped, SIIT, NAT64, 6to4, compatible). No resolution, no network.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "webhook/destination.hpp"

namespace {

using pw::webhook::IpAddress;

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "fuzz_webhook_url: " << why << "\n";
  std::abort();
}

bool same(const pw::webhook::Url& a, const pw::webhook::Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port && a.path == b.path &&
         a.authority == b.authority && a.host_is_ipv6 == b.host_is_ipv6;
}

void check_url(std::string_view text) {
  auto parsed = pw::webhook::parse_url(text);
  if (!parsed.url) {
    if (parsed.error.empty()) fail("a refusal without a reason");
    return;
  }
  const auto& url = *parsed.url;
  if (text.size() > pw::webhook::max_url_bytes) fail("an over-long URL accepted");
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == '\\') fail("a URL with a space, control or non-ASCII byte accepted");
  }
  if (url.scheme != "http" && url.scheme != "https") fail("scheme " + url.scheme + " accepted");
  if (text.find('#') != std::string_view::npos) fail("a fragment accepted");
  const auto authority_start = text.find("://") + 3;
  const auto authority_end = text.find_first_of("/?", authority_start);
  if (text.substr(authority_start, authority_end - authority_start).find('@') != std::string_view::npos) {
    fail("user information accepted");
  }
  if (url.host.empty()) fail("an empty host accepted");
  if (url.port < 1 || url.port > 65535) fail("port out of range accepted");
  if (url.path.empty() || url.path.front() != '/') fail("a path that does not start with /");
  if (url.host_is_ipv6) {
    auto literal = IpAddress::parse(url.host);
    if (!literal || !literal->v6) fail("an invalid IPv6 literal accepted");
  } else {
    for (char c : url.host) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) fail("host byte accepted");
    }
  }
  // Stable: what we would send (scheme, Host, path) parses to the same URL.
  auto again = pw::webhook::parse_url(url.scheme + "://" + url.authority + url.path);
  if (!again.url || !same(*again.url, url)) fail("the rebuilt URL parses differently: " + std::string(text));
}

void check_literal(std::string_view text) {
  auto address = IpAddress::parse(text);
  if (!address) return;
  auto back = IpAddress::parse(address->to_string());
  if (!back || back->v6 != address->v6 || back->bytes != address->bytes) fail("an address does not round-trip");
}

// The ranges that must always be refused, written from the contract.
std::optional<std::string> must_refuse_v4(const std::uint8_t* v) {
  if (v[0] == 127) return "loopback";
  if (v[0] == 10 || (v[0] == 172 && (v[1] & 0xf0) == 16) || (v[0] == 192 && v[1] == 168)) return "private";
  if (v[0] == 169 && v[1] == 254) return "link-local";
  if (v[0] == 100 && (v[1] & 0xc0) == 64) return "cgnat";
  if (v[0] == 0) return "unspecified";
  if (v[0] >= 224) return "multicast or reserved";
  return std::nullopt;
}

IpAddress wrap(const std::uint8_t* v4, std::initializer_list<std::uint8_t> prefix, std::size_t at) {
  IpAddress address;
  address.v6 = true;
  std::size_t i = 0;
  for (auto byte : prefix) address.bytes[i++] = byte;
  std::memcpy(address.bytes.data() + at, v4, 4);
  return address;
}

void check_classify(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return;
  IpAddress v4 = IpAddress::v4(data[0], data[1], data[2], data[3]);
  const auto verdict = pw::webhook::classify(v4);
  if (auto why = must_refuse_v4(data); why && !verdict) fail(v4.to_string() + " (" + *why + ") allowed");
  // Every IPv6 form that carries this IPv4 address is judged by it.
  const IpAddress forms[] = {
      wrap(data, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 12),   // ::ffff:a.b.c.d (mapped)
      wrap(data, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 12),   // ::ffff:0:a.b.c.d (SIIT)
      wrap(data, {0x00, 0x64, 0xff, 0x9b}, 12),                     // 64:ff9b::a.b.c.d (NAT64)
  };
  for (const auto& form : forms) {
    if (pw::webhook::classify(form).has_value() != verdict.has_value()) {
      fail(form.to_string() + " is judged unlike " + v4.to_string());
    }
  }
  if (verdict && !pw::webhook::classify(wrap(data, {0x20, 0x02}, 2))) {
    fail("6to4 address of " + v4.to_string() + " allowed");
  }
  if (verdict && !pw::webhook::classify(wrap(data, {}, 12))) {
    fail("IPv4-compatible address of " + v4.to_string() + " allowed");
  }

  if (size < 16) return;
  IpAddress v6;
  v6.v6 = true;
  std::memcpy(v6.bytes.data(), data, 16);
  const auto verdict6 = pw::webhook::classify(v6);
  const bool loopback = std::all_of(data, data + 15, [](std::uint8_t b) { return b == 0; }) && data[15] <= 1;
  const bool link_local = data[0] == 0xfe && (data[1] & 0xc0) == 0x80;
  const bool unique_local = (data[0] & 0xfe) == 0xfc;
  const bool multicast = data[0] == 0xff;
  if ((loopback || link_local || unique_local || multicast) && !verdict6) fail(v6.to_string() + " allowed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_url(text);
  check_literal(text);
  check_classify(data, size);
  return 0;
}
