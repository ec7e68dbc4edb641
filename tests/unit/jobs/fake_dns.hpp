// A DNS server on 127.0.0.1 (UDP) for tests of callback host lookups:
// either it answers A queries from a table (AAAA: no records; names not in
// the table: NXDOMAIN), or it reads every query and never answers. It counts
// the queries it received, so a test can tell that no lookup happened.
//
//   FakeDns dns({{"hook.example.test", "10.0.0.1"}});
//   settings.servers = dns.server();   // "127.0.0.1:PORT"
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

namespace pw::test {

class FakeDns {
 public:
  enum class Mode { answer, silent };

  explicit FakeDns(std::map<std::string, std::string> a_records, Mode mode = Mode::answer)
      : m_records(std::move(a_records)), m_mode(mode) {
    m_socket = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (m_socket < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(m_socket, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(m_socket, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ::close(m_socket);
      throw std::runtime_error("cannot bind 127.0.0.1/udp");
    }
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  static FakeDns silent() { return FakeDns({}, Mode::silent); }

  ~FakeDns() {
    m_stopping = true;
    if (m_thread.joinable()) m_thread.join();
    if (m_socket >= 0) ::close(m_socket);
  }
  FakeDns(FakeDns&& other) = delete;
  FakeDns(const FakeDns&) = delete;
  FakeDns& operator=(const FakeDns&) = delete;

  std::string server() const { return "127.0.0.1:" + std::to_string(m_port); }
  int queries() const { return m_queries.load(); }

 private:
  void serve() {
    while (!m_stopping) {
      pollfd fd{m_socket, POLLIN, 0};
      if (::poll(&fd, 1, 50) <= 0) continue;
      std::uint8_t query[512];
      sockaddr_in from{};
      socklen_t from_length = sizeof from;
      const ssize_t got =
          ::recvfrom(m_socket, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
      if (got < 12) continue;
      ++m_queries;
      if (m_mode == Mode::silent) continue;
      std::string answer = respond(query, static_cast<std::size_t>(got));
      if (answer.empty()) continue;
      ::sendto(m_socket, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), from_length);
    }
  }

  // The response to one query: its header and question echoed, with an A
  // record from the table when one applies.
  std::string respond(const std::uint8_t* query, std::size_t size) const {
    std::size_t at = 12;
    std::string name;
    while (at < size && query[at] != 0) {
      const std::size_t label = query[at];
      if (label > 63 || at + 1 + label > size) return {};
      if (!name.empty()) name += '.';
      for (std::size_t i = 0; i < label; ++i) name += static_cast<char>(std::tolower(query[at + 1 + i]));
      at += 1 + label;
    }
    if (at + 5 > size) return {};
    const std::size_t question_end = at + 5;  // the root label, QTYPE, QCLASS
    const int type = (query[at + 1] << 8) | query[at + 2];
    const auto record = m_records.find(name);
    const bool known = record != m_records.end();
    in_addr address{};
    const bool a_answer = known && type == 1 && ::inet_pton(AF_INET, record->second.c_str(), &address) == 1;

    std::string out(reinterpret_cast<const char*>(query), question_end);
    out[2] = static_cast<char>(0x84 | (query[2] & 0x01));  // response, authoritative, RD echoed
    out[3] = static_cast<char>(0x80 | (known ? 0 : 3));    // RA; NOERROR or NXDOMAIN
    out[4] = 0, out[5] = 1;                                // one question
    out[6] = 0, out[7] = a_answer ? 1 : 0;                 // answers
    out[8] = out[9] = out[10] = out[11] = 0;               // no authority, no additional
    if (a_answer) {
      const std::uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};  // name -> question, A, IN, TTL 60
      out.append(reinterpret_cast<const char*>(rr), sizeof rr);
      out.append(reinterpret_cast<const char*>(&address), 4);
    }
    return out;
  }

  std::map<std::string, std::string> m_records;
  Mode m_mode;
  int m_socket = -1;
  int m_port = 0;
  std::atomic<bool> m_stopping{false};
  std::atomic<int> m_queries{0};
  std::thread m_thread;
};

}  // namespace pw::test
