// `personaworlds users token HANDLE`: a new bearer token for an existing
// user, printed alone on stdout (so `TOKEN=$(personaworlds users token ada)`
// works). For the operator of the machine: whoever can read the database
// file can act as any user anyway. Exit 0 on success; 1 with one line on
// stderr for an unknown handle or a database problem.
#include <chrono>
#include <iostream>

#include "api/auth.hpp"
#include "app/roles.hpp"
#include "db/connection.hpp"
#include "migrations/migrator.hpp"
#include "store/store.hpp"
#include "store/tokens.hpp"

namespace pw::app {

int run_users(const config::UsersConfig& config) {
  try {
    db::Connection connection(config.db);
    migrations::Migrator(connection, migrations::embedded()).require_up_to_date();
    store::Store store(connection);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    db::WriteTransaction transaction(connection);
    auto user = store.find_user(config.handle);
    if (!user) {
      std::cerr << "personaworlds users token: no user has the handle '" << config.handle << "'\n";
      return 1;
    }
    const std::string secret = api::new_token();
    store::NewToken token{user->id, config.token_name, api::token_hash(secret), std::nullopt};
    if (config.expires_in_s > 0) token.expires_at_ms = now + config.expires_in_s * 1000;
    store::Tokens(connection).create(token, now);
    transaction.commit();
    std::cout << secret << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "personaworlds users token: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace pw::app
