// Speaking HTTP by hand to 127.0.0.1, for black-box tests of the wire:
// framing attacks, floods, trickles, pipelining and idle connections that a
// well-behaved client library would never produce.
//
//   RawConnection c(port);
//   c.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
//   auto response = c.read_response();          // nothing on timeout or close
//   CHECK(response->status == 200);
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pw::test {

struct RawResponse {
  int status = 0;
  std::string head;  // status line and header fields
  std::string body;
  // A header field's value by name, case-insensitively; empty when absent.
  std::string header(std::string_view name) const;
};

class RawConnection {
 public:
  // Connects (REQUIREs success).
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  int fd() const { return m_fd; }
  // False once the peer closed or reset the connection.
  bool send_all(std::string_view data);
  // One response: status line, headers and a Content-Length body; an
  // interim 1xx answer counts as a response of its own. Nothing when the
  // connection closes or `timeout` passes first.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when the server closes the connection (EOF or reset) within
  // `timeout`; what it sends meanwhile is read and dropped.
  bool wait_closed(std::chrono::milliseconds timeout);

 private:
  int m_fd = -1;
  std::string m_pending;  // read, not yet returned
};

// Resident and peak resident memory of a process, in bytes (VmRSS, VmHWM
// of /proc/PID/status); 0 when unknown.
std::size_t resident_bytes(pid_t pid);
std::size_t peak_resident_bytes(pid_t pid);

// Raises this process's soft open-file limit to its hard limit; returns it.
std::size_t raise_open_file_limit_for_test();

}  // namespace pw::test
