// Speaking HTTP by hand to 127.0.0.1, for black-box tests of the wire:
// framing attacks, floods, trickles, pipelining and idle connections that a
// well-behaved client library would never produce.
//
//   RawConnection c(port);
//   c.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");  // false once the peer cut us off
//   auto response = c.read_response();                      // nothing on timeout or close
//   CHECK(response->status == 200);
//
// Whatever the peer sends is read while sending too, so an answer the server
// wrote before cutting a flood off (and resetting the connection) is kept.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pw::test {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  // A header field's value by name, case-insensitively; empty when absent.
  std::string header(std::string_view name) const;
};

// The complete responses at the start of `wire`, in order (bodies framed by
// Content-Length; an answer without one ends the parse; a 1xx answer counts
// as a response of its own), at most `most` of them. `consumed`, when given,
// is how many bytes they took.
std::vector<RawResponse> parse_responses(std::string_view wire, std::size_t* consumed = nullptr,
                                         std::size_t most = static_cast<std::size_t>(-1));

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; throws std::runtime_error when it cannot.
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  int fd() const { return m_fd; }

  // Sends all of `data`, reading whatever the peer answers meanwhile. False
  // once the peer has closed or reset the connection, or when nothing moves
  // for `stall`.
  bool send_all(std::string_view data, std::chrono::milliseconds stall = std::chrono::seconds(10));
  // The next response not yet returned (status line, headers and a
  // Content-Length body). Nothing when the connection closes or `timeout`
  // passes first.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until the peer closes the connection (true) or `timeout` passes.
  bool wait_closed(std::chrono::milliseconds timeout);
  // Reads until `done(received())` holds (true), the peer closes, or `timeout` passes.
  bool wait_until(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds timeout);

  const std::string& received() const { return m_received; }
  std::size_t sent() const { return m_sent; }
  bool closed() const { return m_closed; }

 private:
  void drain();
  bool wait_readable(std::chrono::steady_clock::time_point deadline);

  int m_fd = -1;
  bool m_closed = false;
  std::size_t m_sent = 0;
  std::string m_received;
  std::size_t m_returned = 0;  // bytes of m_received already returned by read_response
};

// Resident and peak resident memory of a process, in bytes (VmRSS, VmHWM
// of /proc/PID/status); 0 when unknown.
std::size_t resident_bytes(pid_t pid);
std::size_t peak_resident_bytes(pid_t pid);

// Raises this process's soft open-file limit to its hard limit; returns it.
std::size_t raise_open_file_limit_for_test();

}  // namespace pw::test
