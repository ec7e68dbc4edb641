#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "unit/jobs/fake_dns.hpp"
#include "webhook/destination.hpp"
#include "webhook/network_libraries.hpp"
#include "webhook/resolver.hpp"

using namespace pw::webhook;
using pw::test::FakeDns;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Polls `done` every 5 ms, for at most `limit`.
void wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

Destination check(const std::string& url, bool allow_private, const std::string& servers = {},
                  std::chrono::milliseconds budget = 2000ms) {
  return check_destination(url, DestinationPolicy{allow_private, ResolverSettings{servers}}, Clock::now() + budget);
}

std::optional<std::string> classify_text(const std::string& text) {
  auto address = IpAddress::parse(text);
  REQUIRE_MESSAGE(address, text);
  return classify(*address);
}

}  // namespace

TEST_CASE("Destination: addresses a webhook must never reach are classified, IPv4 and IPv6") {
  struct Row {
    const char* address;
    const char* expected;  // nullptr: a public address
  };
  const std::vector<Row> rows = {
      // IPv4
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"192.168.1.1", "private"},
      {"100.64.0.1", "cgnat"},
      {"100.127.255.255", "cgnat"},
      {"169.254.169.254", "metadata"},
      {"169.254.0.1", "link-local"},
      {"192.0.0.192", "reserved"},
      {"192.0.2.1", "documentation"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"},
      {"198.18.0.1", "reserved"},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved"},
      {"255.255.255.255", "broadcast"},
      {"8.8.8.8", nullptr},
      {"1.1.1.1", nullptr},
      {"172.15.255.255", nullptr},
      {"172.32.0.0", nullptr},
      {"100.63.255.255", nullptr},
      {"100.128.0.0", nullptr},
      {"192.169.0.1", nullptr},
      {"11.0.0.1", nullptr},
      // IPv6
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:10.0.0.1", "private"},
      {"::ffff:169.254.169.254", "metadata"},
      {"::ffff:8.8.8.8", nullptr},
      {"::ffff:0:127.0.0.1", "loopback"},
      {"::127.0.0.1", "loopback"},
      {"::8.8.8.8", "reserved"},
      {"64:ff9b::7f00:1", "loopback"},
      {"64:ff9b::808:808", nullptr},
      {"64:ff9b:1::1", "private"},
      {"2002:7f00:1::1", "loopback"},
      {"2002:a00:1::", "private"},
      {"2002:808:808::1", nullptr},
      {"fc00::1", "private"},
      {"fd12:3456::1", "private"},
      {"fd00:ec2::254", "metadata"},
      {"fe80::1", "link-local"},
      {"febf::1", "link-local"},
      {"fec0::1", "private"},
      {"ff02::1", "multicast"},
      {"2001:db8::1", "documentation"},
      {"100::1", "reserved"},
      {"2001::1", "reserved"},
      {"2606:4700:4700::1111", nullptr},
      {"2a00:1450:4001::200e", nullptr},
  };
  for (const auto& row : rows) {
    CAPTURE(std::string(row.address));
    auto got = classify_text(row.address);
    if (row.expected == nullptr) {
      CHECK_FALSE(got);
    } else {
      REQUIRE(got);
      CHECK(*got == row.expected);
    }
  }
}

TEST_CASE("Destination: callback URLs are parsed strictly") {
  auto ok = parse_url("http://example.com/hook?x=1");
  REQUIRE(ok.url);
  CHECK(ok.url->scheme == "http");
  CHECK(ok.url->host == "example.com");
  CHECK(ok.url->port == 80);
  CHECK(ok.url->path == "/hook?x=1");
  CHECK(ok.url->authority == "example.com");

  auto https = parse_url("HTTPS://Example.COM:8443");
  REQUIRE(https.url);
  CHECK(https.url->scheme == "https");
  CHECK(https.url->host == "example.com");
  CHECK(https.url->port == 8443);
  CHECK(https.url->path == "/");
  CHECK(https.url->authority == "example.com:8443");

  auto v6 = parse_url("http://[::1]:9000/x");
  REQUIRE(v6.url);
  CHECK(v6.url->host == "::1");
  CHECK(v6.url->host_is_ipv6);
  CHECK(v6.url->authority == "[::1]:9000");

  for (const char* bad : {"", "ftp://example.com/", "file:///etc/passwd", "gopher://x", "example.com/hook",
                          "http://", "http:///path", "http://user:pass@example.com/", "http://a@127.0.0.1/",
                          "http://example.com:0/", "http://example.com:65536/", "http://example.com:/",
                          "http://example.com:80a/", "http://exa mple.com/", "http://example.com/#frag",
                          "http://[::1/", "http://[127.0.0.1]/", "http://[fe80::1%25eth0]/", "http://ex_ample.com/",
                          "http://example.com\\@evil.com/", "http://\xc3\xa9xample.com/"}) {
    CAPTURE(std::string(bad));
    CHECK_FALSE(parse_url(bad).url);
  }
  CHECK_FALSE(parse_url("http://example.com/" + std::string(max_url_bytes, 'a')).url);
}

TEST_CASE("Destination: loopback, private and metadata destinations are refused unless allowed") {
  NetworkLibraries libraries;
  for (const char* url : {"http://127.0.0.1/", "http://localhost:8080/x", "http://10.0.0.1/", "http://169.254.169.254/latest",
                          "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://2130706433/",
                          "http://0x7f.0.0.1/", "http://127.1/"}) {
    CAPTURE(std::string(url));
    auto refused = check(url, false);
    CHECK(refused.verdict == Verdict::forbidden);
    CHECK(refused.reason.find("may not reach") != std::string::npos);
    auto allowed = check(url, true);
    CHECK(allowed.verdict == Verdict::allowed);
    CHECK(allowed.address);
  }
  CHECK(check("ftp://127.0.0.1/", true).verdict == Verdict::invalid_url);
  auto public_address = check("http://8.8.8.8/", false);
  CHECK(public_address.verdict == Verdict::allowed);
  REQUIRE(public_address.address);
  CHECK(public_address.address->to_string() == "8.8.8.8");
}

TEST_CASE("Destination: older IPv4 spellings are judged as the address they are, never looked up") {
  NetworkLibraries libraries;
  FakeDns dns = FakeDns::silent();
  for (const char* url : {"http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://0177.0.0.1/",
                          "http://10.1/", "http://0xa000001/"}) {
    CAPTURE(std::string(url));
    CHECK(needs_lookup(url) == std::optional<bool>(false));
    CHECK(check(url, false, dns.server()).verdict == Verdict::forbidden);
  }
  CHECK(dns.queries() == 0);
  auto literal = check("http://127.1:9/", true, dns.server());
  REQUIRE(literal.address);
  CHECK(literal.address->to_string() == "127.0.0.1");
  CHECK(needs_lookup("http://hook.example.test/") == std::optional<bool>(true));
  CHECK(needs_lookup("http://0x7f.example.test/") == std::optional<bool>(true));
  CHECK_FALSE(needs_lookup("ftp://x/"));
}

TEST_CASE("Destination: a refusal never says what a host name resolved to") {
  NetworkLibraries libraries;
  FakeDns dns({{"internal.example.test", "10.0.0.1"},
               {"loop.example.test", "127.0.0.1"},
               {"meta.example.test", "169.254.169.254"},
               {"public.example.test", "93.184.216.34"}});
  for (const char* url : {"http://internal.example.test/", "http://loop.example.test:8080/x",
                          "https://meta.example.test/latest"}) {
    CAPTURE(std::string(url));
    auto refused = check(url, false, dns.server());
    CHECK(refused.verdict == Verdict::forbidden);
    CHECK(refused.reason.find("may not reach") != std::string::npos);
    CHECK(refused.reason.find(".example.test'") != std::string::npos);  // the host as written is named
    for (const char* secret : {"10.0.0.1", "127.0.0.1", "169.254", "private", "loopback", "metadata", "link-local"}) {
      CHECK_MESSAGE(refused.reason.find(secret) == std::string::npos, refused.reason);
    }
  }
  // An address written in the URL is no secret: its class is named.
  CHECK(check("http://10.0.0.1/", false, dns.server()).reason.find("private") != std::string::npos);

  auto allowed = check("http://public.example.test/hook", false, dns.server());
  CHECK(allowed.verdict == Verdict::allowed);
  REQUIRE(allowed.address);
  CHECK(allowed.address->to_string() == "93.184.216.34");
  auto absent = check("http://absent.example.test/", true, dns.server());
  CHECK(absent.verdict == Verdict::no_such_host);
  CHECK(absent.reason.find("does not resolve") != std::string::npos);
}

TEST_CASE("Resolver: a name server that never answers ends the lookup by its deadline") {
  NetworkLibraries libraries;
  FakeDns dns = FakeDns::silent();
  const auto start = Clock::now();
  auto destination = check("http://hook.example.test/", false, dns.server(), 500ms);
  const auto took = Clock::now() - start;
  CHECK(destination.verdict == Verdict::lookup_failed);
  CHECK(destination.reason == "host 'hook.example.test' could not be resolved: no answer in time");
  CHECK(dns.queries() > 0);
  CHECK(took < 500ms + 1s);  // the acceptance bound: the DNS deadline + 1 s
}

TEST_CASE("Resolver: a stop request ends a lookup at once") {
  NetworkLibraries libraries;
  FakeDns dns = FakeDns::silent();
  std::atomic<bool> stop{false};
  Clock::time_point stopped_at{};
  std::jthread stopper([&] {
    wait_until([&] { return dns.queries() > 0; }, 10s);
    stopped_at = Clock::now();
    stop = true;
  });
  auto lookup = resolve("hook.example.test", ResolverSettings{dns.server()}, Clock::now() + 60s,
                        [&] { return stop.load(); });
  const auto returned_at = Clock::now();
  stopper.join();
  CHECK(lookup.status == LookupStatus::failed);
  CHECK(lookup.error == "stopped");
  CHECK(returned_at - stopped_at < 1s);
}
