#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "config/settings.hpp"

using namespace pw::config;

namespace {

std::string readme_table() {
  std::ifstream file(std::string(PW_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << file.rdbuf();
  const std::string readme = text.str();
  const auto begin = readme.find("<!-- settings: begin");
  const auto end = readme.find("<!-- settings: end -->");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  const auto first_row = readme.find('\n', begin) + 1;
  return readme.substr(first_row, end - first_row);
}

template <class Group>
void collect(std::span<const Setting<Group>> table, std::set<std::string>& flags, std::set<std::string>& envs,
             std::set<std::string>& twice) {
  for (const auto& setting : table) {
    if (!flags.insert(std::string(setting.flag)).second) twice.insert(std::string(setting.flag));
    if (!envs.insert(std::string(setting.env)).second) twice.insert(std::string(setting.env));
    CHECK_MESSAGE(setting.roles != 0, setting.flag << " belongs to no role");
    CHECK_MESSAGE(!setting.help.empty(), setting.flag << " has no help");
    CHECK_MESSAGE(setting.flag.starts_with("--"), setting.flag);
  }
}

}  // namespace

TEST_CASE("settings: the README table is the declared one, as personaworlds settings prints it") {
  CHECK(readme_table() == settings_markdown());
}

TEST_CASE("settings: each flag and each environment variable is declared once") {
  std::set<std::string> flags;
  std::set<std::string> envs;
  std::set<std::string> twice;
  collect(database_settings(), flags, envs, twice);
  collect(log_settings(), flags, envs, twice);
  collect(http_settings(), flags, envs, twice);
  collect(api_settings(), flags, envs, twice);
  collect(worker_settings(), flags, envs, twice);
  collect(retry_settings(), flags, envs, twice);
  collect(webhook_settings(), flags, envs, twice);
  collect(limit_settings(), flags, envs, twice);
  CHECK(twice.empty());
  CHECK(flags.size() > 40);
}

TEST_CASE("settings: a range and a choice from the table are what validation enforces, naming the setting") {
  HttpConfig http;
  CHECK_FALSE(check_settings(http_settings(), role_api, http).has_value());
  http.port = 65536;
  auto problem = check_settings(http_settings(), role_api, http);
  REQUIRE(problem.has_value());
  CHECK(*problem == "invalid --port / PORT: 65536 is not in 0..65535");
  // The worker's server is the same struct under other flags.
  problem = check_settings(http_settings(), role_worker, http);
  REQUIRE(problem.has_value());
  CHECK(problem->find("--observability-port / WORKER_OBSERVABILITY_PORT") != std::string::npos);
  // A setting of another role is not checked for this one.
  http.port = 8080;
  http.threads = 0;
  CHECK(check_settings(http_settings(), role_api, http).has_value());
  CHECK_FALSE(check_settings(http_settings(), role_worker, http).has_value());

  DatabaseConfig db;
  db.synchronous = "sometimes";
  problem = check_settings(database_settings(), role_api, db);
  REQUIRE(problem.has_value());
  CHECK(*problem == "invalid --db-synchronous / DATABASE_SYNCHRONOUS: 'sometimes' is not one of normal, full");
}

TEST_CASE("settings: choices are matched whole") {
  CHECK(is_one_of("json,text,auto", "text"));
  CHECK(is_one_of("json,text,auto", "auto"));
  CHECK_FALSE(is_one_of("json,text,auto", "tex"));
  CHECK_FALSE(is_one_of("json,text,auto", ""));
  CHECK_FALSE(is_one_of("json,text,auto", "json,text"));
  CHECK(choice_list("normal,full") == "normal, full");
}
