// `personaworlds users token HANDLE`: a new bearer token for an existing
// user, printed alone on stdout (so `TOKEN=$(personaworlds users token ada)`
// works). For the operator of the machine: whoever can read the database
// file can act as any user anyway. Exit 0 on success; 1 with one line on
// stderr for an unknown handle or a database problem.
#include <chrono>
#include <iostream>

#include "api/auth.hpp"
#include "app/roles.hpp"
#include "migrations/migrator.hpp"
#include "queue/clock.hpp"
#include "storage/storage.hpp"

namespace pw::app {

int run_users(const config::UsersConfig& config) {
  try {
    queue::SystemClock clock;
    auto storage = storage::open_storage(config.db, 1, {clock, {}, {}});
    return storage->with_session([&](storage::Session& session) {
      migrations::require_up_to_date(session.schema_status());
      const std::int64_t now = clock.now_ms();
      const auto secret = session.write([&]() -> std::optional<std::string> {
        auto user = session.store().find_user(config.handle);
        if (!user) return std::nullopt;
        std::string secret = api::new_token();
        store::NewToken token{user->id, config.token_name, api::token_hash(secret), std::nullopt};
        if (config.expires_in_s > 0) token.expires_at_ms = now + config.expires_in_s * 1000;
        session.tokens().create(token, now);
        return secret;
      });
      if (!secret) {
        std::cerr << "personaworlds users token: no user has the handle '" << config.handle << "'\n";
        return 1;
      }
      std::cout << *secret << "\n";
      return 0;
    });
  } catch (const std::exception& e) {
    std::cerr << "personaworlds users token: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
