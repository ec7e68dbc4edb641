// Black-box: token revocation across API processes. Two `api` processes on
// one database (either driver) stand for two replicas; a token revoked through one is
// refused by the other on its very next request.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/test_database.hpp"

using namespace pw::test;
using namespace std::chrono_literals;

namespace {

int start_api(Process& api) {
  auto started = api.wait_for_json("api_started", 30s);
  REQUIRE(started);
  return (*started)["port"].get<int>();
}

HttpResponse with_token(const std::string& method, int port, const std::string& path, const std::string& token,
                        const std::string& body = {}) {
  return http_request(method, port, path, body, "application/json", {{"Authorization", "Bearer " + token}});
}

}  // namespace

TEST_CASE("tokens (binary): a token revoked through one API process is refused by another at once") {
  TestDatabase database(false);
  const std::string db = database.flag();
  REQUIRE(run(PW_BINARY, {"migrate", db}).exit_code == 0);
  const std::vector<std::string> args{"api", db, "--host", "127.0.0.1", "--port", "0", "--shutdown-delay-ms", "0"};
  Process first(PW_BINARY, args);
  Process second(PW_BINARY, args);
  const int a = start_api(first);
  const int b = start_api(second);

  auto signed_up = http_request("POST", a, "/v1/users", R"({"handle":"ada"})");
  REQUIRE(signed_up.status == 201);
  const auto owner = nlohmann::json::parse(signed_up.body)["token"].get<std::string>();
  auto made = with_token("POST", a, "/v1/tokens", owner, R"({"name":"laptop"})");
  REQUIRE(made.status == 201);
  const auto laptop = nlohmann::json::parse(made.body);
  const auto secret = laptop["token"].get<std::string>();

  // Used on the other process: it is a token there too.
  CHECK(with_token("GET", b, "/v1/me", secret).status == 200);
  CHECK(with_token("GET", b, "/v1/me", secret).status == 200);
  CHECK(with_token("DELETE", a, "/v1/tokens/" + std::to_string(laptop["id"].get<std::int64_t>()), owner).status ==
        204);
  auto refused = with_token("GET", b, "/v1/me", secret);
  CHECK(refused.status == 401);
  CHECK(refused.body.find("invalid_token") != std::string::npos);
  CHECK(with_token("GET", b, "/v1/me", owner).status == 200);

  // The operator command gives the user a token again, which both accept.
  auto recovered = run(PW_BINARY, {"users", "token", "ada", db, "--name", "recovery"});
  REQUIRE(recovered.exit_code == 0);
  const std::string again = recovered.out.substr(0, recovered.out.find('\n'));
  CHECK(with_token("GET", a, "/v1/me", again).status == 200);
  CHECK(with_token("GET", b, "/v1/me", again).status == 200);
  auto unknown = run(PW_BINARY, {"users", "token", "nobody", db});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("no user has the handle 'nobody'") != std::string::npos);
}
