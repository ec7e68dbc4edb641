// The throwaway PostgreSQL server a test talks to (tests/support/postgres.sh).
//
//   auto url = pw::test::PostgresServer::shared().create_database();  // fresh, empty
//   pw::db::postgres::Connection connection({url});
//
// shared(): the run's one server. ctest starts it once as the `postgres`
// fixture; a test binary run by hand starts it on first use (and leaves it
// running for the next run). A missing PostgreSQL installation is an error,
// never a skip. A test that stops or restarts the server makes its own with
// PostgresServer::start_private(), so it disturbs no other test.
#pragma once

#include <memory>
#include <string>

namespace pw::test {

class PostgresServer {
 public:
  static PostgresServer& shared();
  // A server of the caller's own, in a fresh directory; stopped and removed
  // when it goes out of scope.
  static std::unique_ptr<PostgresServer> start_private();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The superuser `pw` over the Unix socket (trusted, no password).
  std::string url(const std::string& database = "postgres") const;
  // Over TCP on 127.0.0.1, where a password is required.
  std::string tcp_url(const std::string& user, const std::string& password,
                      const std::string& database = "postgres") const;
  // A new empty database with a name no other test uses; its URL.
  std::string create_database();
  // Runs SQL as the superuser on `database` (roles, settings, faults).
  void run_sql(const std::string& sql, const std::string& database = "postgres") const;

  // For a private server only: stop (fast shutdown) and start again.
  void stop();
  void start();
  void restart();

  const std::string& directory() const { return m_directory; }
  int port() const { return m_port; }

 private:
  PostgresServer(std::string directory, bool owned);
  void script(const std::string& command) const;
  void read_port();

  std::string m_directory;
  bool m_owned;
  int m_port = 0;
};

}  // namespace pw::test
