#include "webhook/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <initializer_list>

namespace pw::webhook {
namespace {

// a.b.c.d/prefix contains the IPv4 address v?
bool in_v4(const std::uint8_t* v, std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, int prefix) {
  const std::uint32_t address = (std::uint32_t{v[0]} << 24) | (std::uint32_t{v[1]} << 16) |
                                (std::uint32_t{v[2]} << 8) | std::uint32_t{v[3]};
  const std::uint32_t network = (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) |
                                std::uint32_t{d};
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (address & mask) == (network & mask);
}

std::optional<std::string> classify_v4(const std::uint8_t* v) {
  if (in_v4(v, 169, 254, 169, 254, 32)) return "metadata";
  if (in_v4(v, 0, 0, 0, 0, 8)) return "unspecified";
  if (in_v4(v, 127, 0, 0, 0, 8)) return "loopback";
  if (in_v4(v, 10, 0, 0, 0, 8) || in_v4(v, 172, 16, 0, 0, 12) || in_v4(v, 192, 168, 0, 0, 16)) return "private";
  if (in_v4(v, 100, 64, 0, 0, 10)) return "cgnat";
  if (in_v4(v, 169, 254, 0, 0, 16)) return "link-local";
  if (in_v4(v, 192, 0, 2, 0, 24) || in_v4(v, 198, 51, 100, 0, 24) || in_v4(v, 203, 0, 113, 0, 24)) {
    return "documentation";
  }
  if (in_v4(v, 224, 0, 0, 0, 4)) return "multicast";
  if (in_v4(v, 255, 255, 255, 255, 32)) return "broadcast";
  // IETF protocol assignments (192.0.0.0/24, which also holds some providers'
  // metadata services), the old 6to4 relay anycast, benchmarking, and class E.
  if (in_v4(v, 192, 0, 0, 0, 24) || in_v4(v, 192, 88, 99, 0, 24) || in_v4(v, 198, 18, 0, 0, 15) ||
      in_v4(v, 240, 0, 0, 0, 4)) {
    return "reserved";
  }
  return std::nullopt;
}

// Does the IPv6 address start with the first `prefix` bits of `network`?
bool in_v6(const std::array<std::uint8_t, 16>& v, std::initializer_list<std::uint8_t> network, int prefix) {
  std::array<std::uint8_t, 16> net{};
  std::copy(network.begin(), network.end(), net.begin());
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8;
    const int mask = 0x80 >> (bit % 8);
    if ((v[byte] & mask) != (net[byte] & mask)) return false;
  }
  return true;
}

std::optional<std::string> classify_v6(const std::array<std::uint8_t, 16>& v) {
  const bool first_twelve_zero = std::all_of(v.begin(), v.begin() + 12, [](std::uint8_t b) { return b == 0; });
  if (first_twelve_zero) {
    const bool last_four_zero = v[12] == 0 && v[13] == 0 && v[14] == 0 && v[15] == 0;
    if (last_four_zero) return "unspecified";
    if (v[12] == 0 && v[13] == 0 && v[14] == 0 && v[15] == 1) return "loopback";
    return classify_v4(v.data() + 12).value_or("reserved");  // IPv4-compatible (deprecated)
  }
  // ::ffff:0:0/96 (IPv4-mapped) and ::ffff:0:0:0/96 (SIIT): the IPv4 address decides.
  if (in_v6(v, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96) ||
      in_v6(v, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96)) {
    return classify_v4(v.data() + 12);
  }
  // NAT64 well-known prefix: the IPv4 address decides; the local-use one is private.
  if (in_v6(v, {0x00, 0x64, 0xff, 0x9b}, 96)) return classify_v4(v.data() + 12);
  if (in_v6(v, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return "private";
  // 6to4 carries its IPv4 address in bytes 2..5.
  if (in_v6(v, {0x20, 0x02}, 16)) {
    auto inner = classify_v4(v.data() + 2);
    if (inner) return inner;
    return std::nullopt;
  }
  if (in_v6(v, {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}, 128)) return "metadata";
  if (in_v6(v, {0xfc}, 7)) return "private";  // unique local
  if (in_v6(v, {0xfe, 0x80}, 10)) return "link-local";
  if (in_v6(v, {0xfe, 0xc0}, 10)) return "private";  // site-local (deprecated)
  if (in_v6(v, {0xff}, 8)) return "multicast";
  if (in_v6(v, {0x20, 0x01, 0x0d, 0xb8}, 32)) return "documentation";
  if (in_v6(v, {0x01, 0x00, 0, 0, 0, 0, 0, 0}, 64)) return "reserved";  // discard-only
  if (in_v6(v, {0x20, 0x01, 0x00, 0x00}, 32)) return "reserved";        // Teredo: hides an IPv4 address
  return std::nullopt;
}

}  // namespace

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress address;
  address.bytes[0] = a;
  address.bytes[1] = b;
  address.bytes[2] = c;
  address.bytes[3] = d;
  return address;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string copy(text);
  IpAddress address;
  in_addr v4{};
  if (::inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    std::memcpy(address.bytes.data(), &v4, 4);
    return address;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    address.v6 = true;
    std::memcpy(address.bytes.data(), &v6, 16);
    return address;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buffer, sizeof buffer) == nullptr) return "?";
  return buffer;
}

std::optional<IpAddress> literal_address(std::string_view host) {
  if (auto exact = IpAddress::parse(host)) return exact;
  // glibc's resolver and curl's URL parser both read these older spellings
  // as IPv4 numbers, so they must be judged as the address they are, never
  // sent to DNS as names.
  const bool numeric_shape = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'x' || c == 'X';
  });
  if (!numeric_shape) return std::nullopt;
  const std::string copy(host);
  in_addr v4{};
  if (::inet_aton(copy.c_str(), &v4) == 0) return std::nullopt;
  IpAddress address;
  std::memcpy(address.bytes.data(), &v4, 4);
  return address;
}

std::optional<std::string> classify(const IpAddress& address) {
  return address.v6 ? classify_v6(address.bytes) : classify_v4(address.bytes.data());
}

}  // namespace pw::webhook
