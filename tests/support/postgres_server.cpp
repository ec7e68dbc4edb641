#include "support/postgres_server.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

#include "db/postgres/connection.hpp"

#ifndef PW_TEST_POSTGRES_DIR
#error "PW_TEST_POSTGRES_DIR: where the shared test server lives (set by tests/CMakeLists.txt)"
#endif

namespace pw::test {

namespace {

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device random;
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(random() % 100000);
}

}  // namespace

PostgresServer::PostgresServer(std::string directory, bool owned)
    : m_directory(std::move(directory)), m_owned(owned) {}

PostgresServer::~PostgresServer() {
  if (!m_owned) return;
  try {
    script("stop");
  } catch (...) {
  }
}

void PostgresServer::script(const std::string& command) const {
  std::string line = "bash " + quoted(std::string(PW_SOURCE_DIR) + "/tests/support/postgres.sh") + " " + command +
                     " " + quoted(m_directory) + " >/dev/null";
  int status = std::system(line.c_str());
  if (status != 0) {
    throw std::runtime_error("tests/support/postgres.sh " + command + " " + m_directory + " failed (status " +
                             std::to_string(status) + "); see its message above");
  }
}

void PostgresServer::read_port() {
  std::ifstream file(m_directory + "/port");
  if (!(file >> m_port)) throw std::runtime_error("no port file in " + m_directory);
}

PostgresServer& PostgresServer::shared() {
  static PostgresServer* server = [] {
    auto* created = new PostgresServer(PW_TEST_POSTGRES_DIR, false);
    created->script("ensure");
    created->read_port();
    return created;
  }();
  return *server;
}

std::unique_ptr<PostgresServer> PostgresServer::start_private() {
  // Under /tmp whatever TMPDIR says: the server's user must reach it, and a
  // socket path is short.
  std::string directory = "/tmp/pw-postgres-" + unique_suffix();
  std::unique_ptr<PostgresServer> server(new PostgresServer(directory, true));
  server->script("start");
  server->read_port();
  return server;
}

std::string PostgresServer::url(const std::string& database) const {
  return "postgresql://pw@/" + database + "?host=" + m_directory + "&port=" + std::to_string(m_port);
}

std::string PostgresServer::tcp_url(const std::string& user, const std::string& password,
                                    const std::string& database) const {
  return "postgresql://" + user + ":" + password + "@127.0.0.1:" + std::to_string(m_port) + "/" + database;
}

std::string PostgresServer::create_database() {
  std::string name = "t_" + unique_suffix();
  run_sql("CREATE DATABASE " + name);
  return url(name);
}

void PostgresServer::run_sql(const std::string& sql, const std::string& database) const {
  db::postgres::Connection connection({url(database)});
  connection.exec(sql);
}

void PostgresServer::stop() {
  if (!m_owned) throw std::logic_error("only a private test server may be stopped");
  script("halt");
}

void PostgresServer::start() {
  if (!m_owned) throw std::logic_error("only a private test server may be started again");
  script("resume");
}

void PostgresServer::restart() {
  if (!m_owned) throw std::logic_error("only a private test server may be restarted");
  script("restart");
}

}  // namespace pw::test
