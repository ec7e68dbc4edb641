// `personaworlds admin token create|list|revoke`: the operator console's
// tokens. `create` prints the token alone on stdout, once (so
// `TOKEN=$(personaworlds admin token create)` works); the database keeps
// only its SHA-256. Each create and revoke writes one `admin_action` line
// to stderr. Exit 0 on success; 1 with one line on stderr for an unknown id
// or a database problem.
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "api/auth.hpp"
#include "app/roles.hpp"
#include "migrations/migrator.hpp"
#include "observability/log_line.hpp"
#include "observability/logger.hpp"
#include "queue/clock.hpp"
#include "storage/storage.hpp"

namespace pw::app {
namespace {

using Action = config::AdminConfig::Action;

nlohmann::json to_json(const store::AdminToken& token) {
  return {{"id", token.id},
          {"name", token.name},
          {"created_at", observability::format_rfc3339_ms(token.created_at_ms)},
          {"last_used_at", token.last_used_at_ms
                               ? nlohmann::json(observability::format_rfc3339_ms(*token.last_used_at_ms))
                               : nlohmann::json(nullptr)}};
}

void print_list(const std::vector<store::AdminToken>& tokens) {
  std::ostringstream out;
  out << std::left << std::setw(8) << "ID" << std::setw(26) << "CREATED" << std::setw(26) << "LAST_USED"
      << "NAME\n";
  for (const auto& token : tokens) {
    std::string name = observability::sanitize_utf8(token.name);
    out << std::setw(8) << token.id << std::setw(26) << observability::format_rfc3339_ms(token.created_at_ms)
        << std::setw(26)
        << (token.last_used_at_ms ? observability::format_rfc3339_ms(*token.last_used_at_ms) : std::string("-"))
        << name << "\n";
  }
  out << tokens.size() << (tokens.size() == 1 ? " token\n" : " tokens\n");
  std::cout << out.str();
}

void audit(const char* action, const store::AdminToken& token) {
  // stdout carries the secret alone: the audit line goes to stderr.
  observability::Logger logger("admin", observability::LogLevel::info, config::LogFormat::json,
                               [](std::string_view line) { std::cerr << line << "\n"; });
  logger.info("admin_action", {{"admin", "cli"},
                               {"action", action},
                               {"job_ids", "[]"},
                               {"count", 1},
                               {"request_id", nullptr},
                               {"token_id", static_cast<std::int64_t>(token.id)},
                               {"token_name", token.name}});
}

}  // namespace

int run_admin(const config::AdminConfig& config) {
  try {
    queue::SystemClock clock;
    auto storage = storage::open_storage(config.db, 1, {clock, {}, {}});
    return storage->with_session([&](storage::Session& session) {
      migrations::require_up_to_date(session.schema_status());
      auto& tokens = session.admin_tokens();
      switch (config.action) {
        case Action::create: {
          const std::string secret = api::new_token();
          auto token = session.write([&] { return tokens.create(config.name, api::token_hash(secret), clock.now_ms()); });
          audit("token_create", token);
          std::cout << secret << "\n";
          return 0;
        }
        case Action::list: {
          auto all = tokens.list();
          if (config.json) {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& token : all) out.push_back(to_json(token));
            std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
          } else {
            print_list(all);
          }
          return 0;
        }
        case Action::revoke: {
          std::optional<store::AdminToken> revoked;
          session.write([&] {
            for (const auto& token : tokens.list()) {
              if (token.id == config.token_id) revoked = token;
            }
            if (revoked && !tokens.revoke(config.token_id)) revoked.reset();
          });
          if (!revoked) {
            std::cerr << "personaworlds admin token revoke: no admin token has the id " << config.token_id << "\n";
            return 1;
          }
          audit("token_revoke", *revoked);
          std::cout << "revoked admin token " << revoked->id << "\n";
          return 0;
        }
      }
      return 1;
    });
  } catch (const std::exception& e) {
    std::cerr << "personaworlds admin token: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
