#include <doctest/doctest.h>

#include <string>

#include "http/request_framer.hpp"

using namespace pw::http;

namespace {

struct Fed {
  RequestFramer::State state;
  std::size_t consumed;
};

// Feeds `bytes` the way the server does: whatever the framer does not
// consume stays at the front for the next call, `step` bytes arriving at a
// time.
Fed feed(RequestFramer& framer, const std::string& bytes, std::size_t step = std::string::npos) {
  std::string pending;
  std::size_t total = 0;
  for (std::size_t at = 0; at < bytes.size();) {
    const std::size_t n = std::min(step, bytes.size() - at);
    pending.append(bytes, at, n);
    at += n;
    const std::size_t used = framer.feed(pending);
    pending.erase(0, used);
    total += used;
    if (framer.state() == RequestFramer::State::complete || framer.state() == RequestFramer::State::refused) break;
  }
  return {framer.state(), total};
}

FramingLimits small_limits() {
  FramingLimits limits;
  limits.max_request_line = 256;
  limits.max_header_bytes = 1024;
  limits.max_field_bytes = 512;
  limits.max_header_count = 10;
  limits.max_body_bytes = 100;
  return limits;
}

}  // namespace

TEST_CASE("framer: a simple request is framed into a canonical head, whatever the split") {
  const std::string wire = "GET /v1/worlds?x=1 HTTP/1.1\r\nHost: a\r\nX-Request-ID: r1\r\n\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{7}, wire.size()}) {
    CAPTURE(step);
    RequestFramer framer;
    auto fed = feed(framer, wire, step);
    REQUIRE(fed.state == RequestFramer::State::complete);
    CHECK(fed.consumed == wire.size());
    auto request = framer.take();
    CHECK(request.method == "GET");
    CHECK(request.target == "/v1/worlds?x=1");
    CHECK(request.head == wire);
    CHECK(request.body.empty());
    CHECK(request.keep_alive);
    CHECK(framer.state() == RequestFramer::State::idle);
  }
}

TEST_CASE("framer: a Content-Length body is read exactly and the next request is left alone") {
  RequestFramer framer;
  const std::string first = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  const std::string second = "GET /b HTTP/1.1\r\n\r\n";
  auto fed = feed(framer, first + second);
  REQUIRE(fed.state == RequestFramer::State::complete);
  CHECK(fed.consumed == first.size());
  auto request = framer.take();
  CHECK(request.body == "hello");
  CHECK(request.head == "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
  fed = feed(framer, second);
  REQUIRE(fed.state == RequestFramer::State::complete);
  CHECK(framer.take().target == "/b");
}

TEST_CASE("framer: a chunked body is decoded, trailers dropped, and the head carries one Content-Length") {
  const std::string wire =
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{4}, wire.size()}) {
    CAPTURE(step);
    RequestFramer framer;
    auto fed = feed(framer, wire, step);
    REQUIRE(fed.state == RequestFramer::State::complete);
    auto request = framer.take();
    CHECK(request.body == "hello world");
    CHECK(request.head == "POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
  }
}

TEST_CASE("framer: a chunked body larger than the limit is refused with 413, however it is chunked") {
  RequestFramer one_chunk(small_limits());
  CHECK(feed(one_chunk, "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n").state ==
        RequestFramer::State::refused);
  CHECK(one_chunk.error().status == 413);

  RequestFramer many(small_limits());
  std::string wire = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 200; ++i) wire += "1\r\nx\r\n";
  auto fed = feed(many, wire, 5);
  CHECK(fed.state == RequestFramer::State::refused);
  CHECK(many.error().status == 413);
  // Refused as soon as the limit is passed, not after the whole body.
  CHECK(fed.consumed < 200 * 6);
}

TEST_CASE("framer: a Content-Length over the limit is refused with 413 before any body byte") {
  RequestFramer framer(small_limits());
  CHECK(feed(framer, "POST /a HTTP/1.1\r\nContent-Length: 101\r\n\r\n").state == RequestFramer::State::refused);
  CHECK(framer.error().status == 413);
}

TEST_CASE("framer: the header section is bounded as a whole, in bytes and in fields") {
  SUBCASE("many short lines") {
    RequestFramer framer(small_limits());
    std::string wire = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 9; ++i) wire += "X-A" + std::to_string(i) + ": " + std::string(150, 'a') + "\r\n";
    auto fed = feed(framer, wire, 13);
    CHECK(fed.state == RequestFramer::State::refused);
    CHECK(framer.error().status == 431);
  }
  SUBCASE("too many fields") {
    RequestFramer framer(small_limits());
    std::string wire = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 11; ++i) wire += "A: b\r\n";
    CHECK(feed(framer, wire).state == RequestFramer::State::refused);
    CHECK(framer.error().status == 431);
  }
  SUBCASE("one line longer than a field may be, arriving a byte at a time") {
    RequestFramer framer(small_limits());
    auto fed = feed(framer, "GET / HTTP/1.1\r\nX: " + std::string(600, 'a'), 1);
    CHECK(fed.state == RequestFramer::State::refused);
    CHECK(framer.error().status == 431);
  }
  SUBCASE("an endless stream of lines never grows past the limit") {
    RequestFramer framer;  // defaults: 32 KiB
    std::string wire = "GET /healthz HTTP/1.1\r\n";
    while (wire.size() < 1 << 20) wire += "X-Flood: 0123456789\r\n";
    auto fed = feed(framer, wire, 4096);
    CHECK(fed.state == RequestFramer::State::refused);
    CHECK(framer.error().status == 431);
    CHECK(fed.consumed <= 32768);
  }
  SUBCASE("trailers count against the same budget") {
    RequestFramer framer(small_limits());
    std::string wire = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    for (int i = 0; i < 20; ++i) wire += "T: x\r\n";
    CHECK(feed(framer, wire).state == RequestFramer::State::refused);
    CHECK(framer.error().status == 431);
  }
}

TEST_CASE("framer: a request line longer than the limit is 414") {
  RequestFramer framer(small_limits());
  CHECK(feed(framer, "GET /" + std::string(300, 'a'), 16).state == RequestFramer::State::refused);
  CHECK(framer.error().status == 414);
}

TEST_CASE("framer: smuggling shapes are refused with 400") {
  auto status_of = [](const std::string& wire) {
    RequestFramer framer;
    auto fed = feed(framer, wire);
    return fed.state == RequestFramer::State::refused ? framer.error().status : 0;
  };
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello!") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501);
  CHECK(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nX : a\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\nX: a\n\n") == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n") == 400);
  CHECK(status_of(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26)) == 400);
  CHECK(status_of("GET / HTTP/1.1\r\nUser-Agent: a\x01\x1b[31m\r\n\r\n") == 0);
  CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n") == 400);
  CHECK(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n") == 400);
  CHECK(status_of("GET /a b HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET /\xff HTTP/1.1\r\n\r\n") == 400);
  CHECK(status_of("GET / HTTP/9.9\r\n\r\n") == 400);
  CHECK(status_of("THIS IS NOT HTTP\r\n\r\n") == 400);
  CHECK(status_of("BREW /pot HTTP/1.1\r\n\r\n") == 501);
  CHECK(status_of("POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n") == 417);
  // Identical repeats say the same thing: not ambiguous, accepted.
  CHECK(status_of("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi") == 0);
}

TEST_CASE("framer: keep-alive follows the version and the Connection header") {
  auto keep_alive = [](const std::string& wire) {
    RequestFramer framer;
    REQUIRE(feed(framer, wire).state == RequestFramer::State::complete);
    return framer.take().keep_alive;
  };
  CHECK(keep_alive("GET / HTTP/1.1\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
  CHECK(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

TEST_CASE("framer: 100-continue is asked for once, and Range and Expect never reach the head") {
  RequestFramer framer;
  auto fed = feed(framer, "POST /a HTTP/1.1\r\nExpect: 100-continue\r\nRange: bytes=0-1,0-1\r\nContent-Length: 2\r\n\r\n");
  CHECK(fed.state == RequestFramer::State::reading);
  CHECK(framer.take_continue());
  CHECK_FALSE(framer.take_continue());
  REQUIRE(framer.feed("ok") == 2);
  auto request = framer.take();
  CHECK(request.head == "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n");
}

TEST_CASE("framer: empty lines before a request are tolerated but counted") {
  RequestFramer framer;
  REQUIRE(feed(framer, "\r\n\r\nGET / HTTP/1.1\r\n\r\n").state == RequestFramer::State::complete);
  CHECK(framer.take().target == "/");
  RequestFramer flooded(small_limits());
  std::string wire;
  for (int i = 0; i < 1000; ++i) wire += "\r\n";
  CHECK(feed(flooded, wire).state == RequestFramer::State::refused);
  CHECK(flooded.error().status == 431);
}

TEST_CASE("framer: what is known of a refused request is still readable (for its answer)") {
  RequestFramer framer(small_limits());
  feed(framer, "POST /v1/users HTTP/1.1\r\nX-Request-ID: abc\r\nContent-Length: 999\r\n\r\n");
  REQUIRE(framer.state() == RequestFramer::State::refused);
  CHECK(framer.method() == "POST");
  CHECK(framer.target() == "/v1/users");
  CHECK(framer.header("x-request-id") == "abc");
}
