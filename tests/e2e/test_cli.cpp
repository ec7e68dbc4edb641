// Black-box: the built binary's command line and `migrate`, run as a user would.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <array>
#include <cstdio>
#include <future>
#include <string>

#include "support/temp_dir.hpp"

namespace {

struct Run {
  int exit_code;
  std::string output;  // stdout and stderr together
};

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Run run(const std::string& args, const std::string& env = "") {
  std::string command = env + (env.empty() ? "" : " ") + quote(PW_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer;
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  int status = pclose(pipe);
  return Run{WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("cli (binary): --help lists the roles and settings with their environment variables") {
  auto help = run("--help");
  CHECK(help.exit_code == 0);
  CHECK(contains(help.output, "api"));
  CHECK(contains(help.output, "worker"));
  CHECK(contains(help.output, "migrate"));
  auto api_help = run("api --help");
  CHECK(api_help.exit_code == 0);
  CHECK(contains(api_help.output, "--port"));
  CHECK(contains(api_help.output, "PORT"));
  CHECK(contains(api_help.output, "8080"));
  CHECK(contains(api_help.output, "DATABASE_PATH"));
  auto worker_help = run("worker --help");
  CHECK(contains(worker_help.output, "WORKER_OBSERVABILITY_PORT"));
  CHECK(contains(worker_help.output, "9091"));
  CHECK(contains(worker_help.output, "WORKER_CONCURRENCY"));
  auto version = run("--version");
  CHECK(version.exit_code == 0);
  CHECK(contains(version.output, "personaworlds "));
}

TEST_CASE("cli (binary): usage errors and invalid settings exit 2 with one clear line") {
  pw::test::TempDir dir;
  CHECK(run("frobnicate").exit_code == 2);
  CHECK(run("api --no-such-flag").exit_code == 2);
  auto port = run("api --port 99999 --db " + quote(dir.file("x.db")));
  CHECK(port.exit_code == 2);
  CHECK(contains(port.output, "--port / PORT"));
  auto concurrency = run("worker --db " + quote(dir.file("x.db")), "WORKER_CONCURRENCY=0");
  CHECK(concurrency.exit_code == 2);
  CHECK(contains(concurrency.output, "WORKER_CONCURRENCY"));
  auto folder = run("migrate --db /proc/personaworlds/x.db");
  CHECK(folder.exit_code == 2);
  CHECK(contains(folder.output, "DATABASE_PATH"));
  // Refused before anything is opened: no database file appeared.
  CHECK_FALSE(std::filesystem::exists(dir.file("x.db")));
}

TEST_CASE("cli (binary): an unknown command is named, with the commands there are") {
  auto unknown = run("no-such-role");
  CHECK(unknown.exit_code == 2);
  CHECK(contains(unknown.output, "unknown command 'no-such-role'"));
  for (const char* role : {"api", "worker", "migrate", "jobs", "users", "probe"}) {
    CAPTURE(role);
    CHECK(contains(unknown.output, role));
  }
  CHECK_FALSE(contains(unknown.output, "A subcommand is required"));
}

TEST_CASE("cli (binary): a value that does not convert names its flag and the environment variable it came from") {
  pw::test::TempDir dir;
  const std::string db = " --db " + quote(dir.file("x.db"));
  auto flag = run("api" + db, "ALLOW_PRIVATE_WEBHOOKS=bogus");
  CHECK(flag.exit_code == 2);
  CHECK(contains(flag.output, "--allow-private-webhooks / ALLOW_PRIVATE_WEBHOOKS"));
  CHECK(contains(flag.output, "'bogus' (from the environment variable ALLOW_PRIVATE_WEBHOOKS) is not true or false"));
  auto number = run("api" + db, "PORT=eighty");
  CHECK(number.exit_code == 2);
  CHECK(contains(number.output, "'eighty' (from the environment variable PORT) is not a whole number"));
  // Given as a flag, the value is the flag's: no environment variable blamed.
  auto given = run("api --port eighty" + db, "PORT=");
  CHECK(given.exit_code == 2);
  CHECK(contains(given.output, "invalid --port / PORT: 'eighty' is not a whole number"));
  CHECK_FALSE(contains(given.output, "from the environment"));
}

TEST_CASE("cli (binary): LOG_FORMAT=auto writes JSON lines when the output is not a terminal") {
  pw::test::TempDir dir;
  auto migrated = run("migrate --log-format auto --db " + quote(dir.file("x.db")));
  CHECK(migrated.exit_code == 0);
  CHECK(contains(migrated.output, "{\"ts\":"));
  CHECK(contains(migrated.output, "\"msg\":\"migrations_done\""));
  CHECK(run("migrate --log-format yaml --db " + quote(dir.file("x.db"))).exit_code == 2);
}

TEST_CASE("cli (binary): LOG_FORMAT=auto writes readable text on a terminal") {
  pw::test::TempDir dir;
  // script(1) gives the command a pseudo-terminal as its output.
  const std::string command = quote(PW_BINARY) + " migrate --log-format auto --db " + quote(dir.file("x.db"));
  FILE* pipe = popen(("script -qec " + quote(command) + " /dev/null").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer;
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  CHECK(pclose(pipe) == 0);
  INFO(output);
  CHECK(contains(output, " migrate migrations_done "));
  CHECK_FALSE(contains(output, "{\"ts\":"));
}

TEST_CASE("migrate (binary): creates a WAL database, is idempotent, and status reports it") {
  pw::test::TempDir dir;
  std::string db = dir.file("fresh.db");
  auto first = run("migrate --db " + quote(db));
  CHECK(first.exit_code == 0);
  CHECK(contains(first.output, "migration_applied"));
  {
    SQLite::Database check(db);
    CHECK(check.execAndGet("PRAGMA journal_mode").getString() == "wal");
    CHECK(check.execAndGet("SELECT count(*) FROM schema_migrations").getInt() >= 1);
  }
  auto second = run("migrate up --db " + quote(db));
  CHECK(second.exit_code == 0);
  CHECK(contains(second.output, "migrations_up_to_date"));
  CHECK_FALSE(contains(second.output, "migration_applied"));
  auto status = run("migrate status --db " + quote(db));
  CHECK(status.exit_code == 0);
  CHECK(contains(status.output, "0 pending"));
}

TEST_CASE("migrate (binary): status on a new database lists pending migrations and exits non-zero") {
  pw::test::TempDir dir;
  auto status = run("migrate status --db " + quote(dir.file("new.db")));
  CHECK(status.exit_code == 1);
  CHECK(contains(status.output, "pending  0001_jobs.sql"));
  CHECK(contains(status.output, "0 applied"));
  // A status query creates nothing: not the database, nor its -wal or -shm.
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("migrate (binary): a tampered checksum or an unknown newer migration is refused by every role") {
  pw::test::TempDir dir;
  std::string db = dir.file("t.db");
  REQUIRE(run("migrate --db " + quote(db)).exit_code == 0);
  {
    SQLite::Database edit(db, SQLite::OPEN_READWRITE);
    edit.exec("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1");
  }
  auto tampered = run("migrate --db " + quote(db));
  CHECK(tampered.exit_code != 0);
  CHECK(contains(tampered.output, "0001_jobs.sql"));
  CHECK(contains(tampered.output, "changed"));
  CHECK(run("migrate status --db " + quote(db)).exit_code != 0);
  auto api = run("api --port 0 --host 127.0.0.1 --db " + quote(db));
  CHECK(api.exit_code == 1);
  CHECK(contains(api.output, "0001_jobs.sql"));
  auto worker = run("worker --observability-port 0 --db " + quote(db));
  CHECK(worker.exit_code == 1);

  std::string newer = dir.file("n.db");
  REQUIRE(run("migrate --db " + quote(newer)).exit_code == 0);
  {
    SQLite::Database edit(newer, SQLite::OPEN_READWRITE);
    edit.exec("INSERT INTO schema_migrations VALUES (9999, '9999_from_the_future.sql', 'abc', 0)");
  }
  auto refused = run("migrate --db " + quote(newer));
  CHECK(refused.exit_code != 0);
  CHECK(contains(refused.output, "9999_from_the_future.sql"));
  CHECK(run("api --port 0 --host 127.0.0.1 --db " + quote(newer)).exit_code == 1);
}

TEST_CASE("migrate (binary): two processes started at once both succeed, each migration applied once") {
  for (int round = 0; round < 3; ++round) {
    pw::test::TempDir dir;
    std::string db = dir.file("race.db");
    auto a = std::async(std::launch::async, [&] { return run("migrate --db " + quote(db)); });
    auto b = std::async(std::launch::async, [&] { return run("migrate --db " + quote(db)); });
    auto ra = a.get();
    auto rb = b.get();
    CHECK_MESSAGE(ra.exit_code == 0, ra.output);
    CHECK_MESSAGE(rb.exit_code == 0, rb.output);
    SQLite::Database check(db);
    auto applied = check.execAndGet("SELECT count(*) FROM schema_migrations").getInt();
    auto distinct = check.execAndGet("SELECT count(DISTINCT version) FROM schema_migrations").getInt();
    CHECK(applied == distinct);
    CHECK(run("migrate status --db " + quote(db)).exit_code == 0);
  }
}
