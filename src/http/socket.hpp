// Thin, owning wrappers over the POSIX socket calls the server makes itself:
// the listening socket, accepted connections, nonblocking reads and writes
// with deadlines. No HTTP here.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace pw::http {

using Clock = std::chrono::steady_clock;

// Owns one file descriptor; closes it on destruction.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : m_fd(fd) {}
  ~FileDescriptor() { reset(); }
  FileDescriptor(FileDescriptor&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      reset();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return m_fd; }
  explicit operator bool() const { return m_fd >= 0; }
  void reset();

 private:
  int m_fd = -1;
};

// A nonblocking listening TCP socket on host:port (port 0 picks a free one).
// Throws std::runtime_error naming host and port when it cannot listen.
struct Listener {
  FileDescriptor socket;
  int port = 0;
};
Listener listen_tcp(const std::string& host, int port, int backlog);

struct Accepted {
  FileDescriptor socket;  // nonblocking, TCP_NODELAY
  std::string ip;
  int port = 0;
  int error = 0;  // errno when nothing was accepted (EAGAIN: nothing waiting)
};
Accepted accept_from(int listener);

// Raises this process's soft limit on open files to its hard limit (each
// connection is one) and returns the soft limit now in force.
std::size_t raise_open_file_limit();

enum class IoStatus { ok, would_block, closed, failed };

// One nonblocking read into `buffer`; `got` is how many bytes arrived.
IoStatus read_some(int fd, char* buffer, std::size_t size, std::size_t& got);

// Writes all of `data`, waiting for the socket to drain until `deadline`.
// False when the peer is gone or the deadline passed.
bool write_all(int fd, std::string_view data, Clock::time_point deadline);

// Writes what fits without waiting; true when all of `data` went out.
bool write_now(int fd, std::string_view data);

}  // namespace pw::http
