// /v1/tokens: making, listing and revoking a user's bearer tokens, with the
// hostile-input and isolation cases.
#include <doctest/doctest.h>

#include "db/statement.hpp"

#include "unit/api/api_fixture.hpp"

using pw::test::ApiFixture;
using pw::test::ApiResult;

namespace {

ApiResult delete_token(ApiFixture& api, const std::string& id, const std::string& token) {
  return api.call("DELETE", "/v1/tokens/" + id, {}, {{"Authorization", "Bearer " + token}});
}

ApiResult make_token(ApiFixture& api, const nlohmann::json& body, const std::string& token) {
  return api.post("/v1/tokens", body, token);
}

}  // namespace

TEST_CASE("API tokens: a new token works, the list never shows a secret, a revoked token is 401 at once") {
  ApiFixture api;
  const auto first = api.sign_up("alice");

  auto made = make_token(api, {{"name", "laptop"}}, first);
  REQUIRE(made.status == 201);
  const auto second = made.json()["token"].get<std::string>();
  CHECK(second.starts_with("pw_"));
  CHECK(second != first);
  CHECK(made.json()["name"] == "laptop");
  CHECK(made.json()["expires_at"].is_null());
  CHECK(made.json()["last_used_at"].is_null());
  const auto second_id = made.json()["id"].get<std::int64_t>();

  CHECK(api.get("/v1/me", second).status == 200);
  auto listed = api.get("/v1/tokens", second);
  REQUIRE(listed.status == 200);
  const auto items = listed.json()["items"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["name"] == "sign-up");
  CHECK(items[0]["current"] == false);
  CHECK(items[1]["name"] == "laptop");
  CHECK(items[1]["current"] == true);
  CHECK_FALSE(items[1]["last_used_at"].is_null());
  CHECK(listed.json()["next_cursor"].is_null());
  // Neither the secrets nor their hashes leave the server.
  CHECK(listed.body.find(first) == std::string::npos);
  CHECK(listed.body.find(second) == std::string::npos);
  CHECK(listed.body.find("hash") == std::string::npos);
  for (const auto& item : items) CHECK_FALSE(item.contains("token"));

  // Revoked with the other token: refused on its very next request.
  auto revoked = delete_token(api, std::to_string(second_id), first);
  CHECK(revoked.status == 204);
  auto after = api.get("/v1/me", second);
  CHECK(after.status == 401);
  CHECK(after.error_code() == "invalid_token");
  CHECK(delete_token(api, std::to_string(second_id), first).status == 404);
  CHECK(api.get("/v1/me", first).status == 200);

  // A token may revoke itself; then the user has none left until the
  // operator makes one.
  const auto first_id = std::to_string(api.get("/v1/tokens", first).json()["items"][0]["id"].get<std::int64_t>());
  CHECK(delete_token(api, first_id, first).status == 204);
  CHECK(api.get("/v1/tokens", first).status == 401);

  // The database holds hashes, never the secrets.
  for (const auto& row : api.probe().rows("SELECT token_hash FROM tokens", 1)) {
    CHECK(row[0] != first);
    CHECK(row[0] != second);
  }
}

TEST_CASE("API tokens: one user cannot list, use or revoke another's tokens") {
  ApiFixture api;
  const auto alice = api.sign_up("alice");
  const auto bob = api.sign_up("bob");
  auto alice_tokens = api.get("/v1/tokens", alice).json()["items"];
  auto bob_tokens = api.get("/v1/tokens", bob).json()["items"];
  REQUIRE(alice_tokens.size() == 1);
  REQUIRE(bob_tokens.size() == 1);
  CHECK(alice_tokens[0]["id"] != bob_tokens[0]["id"]);

  const auto bobs_id = std::to_string(bob_tokens[0]["id"].get<std::int64_t>());
  // Another user's token is as absent as a missing one.
  auto refused = delete_token(api, bobs_id, alice);
  CHECK(refused.status == 404);
  CHECK(refused.error_code() == "not_found");
  CHECK(api.get("/v1/me", bob).status == 200);
  CHECK(api.get("/v1/tokens", bob).json()["items"].size() == 1);

  // Alice's new tokens are hers only.
  REQUIRE(make_token(api, {{"name", "a2"}}, alice).status == 201);
  CHECK(api.get("/v1/tokens", alice).json()["items"].size() == 2);
  CHECK(api.get("/v1/tokens", bob).json()["items"].size() == 1);

  // Without a token: 401, never a list.
  CHECK(api.call("GET", "/v1/tokens").status == 401);
  CHECK(api.call("POST", "/v1/tokens").status == 401);
  CHECK(api.call("DELETE", "/v1/tokens/" + bobs_id).status == 401);
}

TEST_CASE("API tokens: hostile input gets a clear 4xx and makes nothing") {
  ApiFixture api;
  const auto token = api.sign_up("alice");
  auto count = [&] { return api.get("/v1/tokens", token).json()["items"].size(); };

  struct Case {
    nlohmann::json body;
    const char* field;
  };
  const std::vector<Case> cases{
      {{{"name", std::string(101, 'a')}}, "name"},
      {{{"name", std::string(1 << 20, 'a')}}, "name"},
      {{{"name", "two\nlines"}}, "name"},
      {{{"name", 42}}, "name"},
      {{{"expires_in_seconds", 0}}, "expires_in_seconds"},
      {{{"expires_in_seconds", -60}}, "expires_in_seconds"},
      {{{"expires_in_seconds", 400LL * 24 * 3600}}, "expires_in_seconds"},
      {{{"expires_in_seconds", "3600"}}, "expires_in_seconds"},
      {{{"expires_in_seconds", 1.5}}, "expires_in_seconds"},
      {{{"expires_in_seconds", 99999999999999999999.0}}, "expires_in_seconds"},
      {{{"expires_at", "2030-01-01T00:00:00Z"}}, "expires_at"},
      {{{"token", "pw_" + std::string(64, 'a')}}, "token"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body.dump().substr(0, 80));
    auto refused = make_token(api, c.body, token);
    CHECK(refused.status == 400);
    CHECK(refused.error_code() == "invalid_request");
    CHECK(refused.body.find(c.field) != std::string::npos);
  }
  // Not an object, not JSON, another content type.
  CHECK(api.call("POST", "/v1/tokens", "[]", {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}})
            .status == 400);
  CHECK(api.call("POST", "/v1/tokens", "{", {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}})
            .status == 400);
  CHECK(api.call("POST", "/v1/tokens", "name=x", {{"Content-Type", "text/plain"}, {"Authorization", "Bearer " + token}})
            .status == 415);
  CHECK(count() == 1);

  // Ids that name nothing: 404, whatever their shape.
  for (const std::string id : {"0", "-1", "01", "1e3", "abc", "99999999999999999999", "9223372036854775807",
                               "1%20OR%201=1", "%00"}) {
    CAPTURE(id);
    CHECK(delete_token(api, id, token).status == 404);
  }
  CHECK(count() == 1);

  // Cursor and limit of the list are checked like every other list's.
  CHECK(api.get("/v1/tokens?limit=0", token).status == 400);
  CHECK(api.get("/v1/tokens?limit=101", token).status == 400);
  CHECK(api.get("/v1/tokens?cursor=x", token).status == 400);

  // An empty body (no content type) is a token without name or expiry.
  auto bare = api.call("POST", "/v1/tokens", {}, {{"Authorization", "Bearer " + token}});
  CHECK(bare.status == 201);
  CHECK(bare.json()["name"] == "");
  CHECK(count() == 2);
}

TEST_CASE("API tokens: an expired token is 401, and last use is recorded at most once a minute") {
  ApiFixture api;
  const auto token = api.sign_up("alice");
  auto made = make_token(api, {{"name", "short"}, {"expires_in_seconds", 60}}, token);
  REQUIRE(made.status == 201);
  const auto short_lived = made.json()["token"].get<std::string>();
  CHECK_FALSE(made.json()["expires_at"].is_null());

  CHECK(api.get("/v1/me", short_lived).status == 200);
  const auto first_use = api.get("/v1/tokens", token).json()["items"][1]["last_used_at"];
  REQUIRE_FALSE(first_use.is_null());
  api.clock().advance_ms(30'000);
  CHECK(api.get("/v1/me", short_lived).status == 200);
  CHECK(api.get("/v1/tokens", token).json()["items"][1]["last_used_at"] == first_use);

  api.clock().advance_ms(30'000);
  auto expired = api.get("/v1/me", short_lived);
  CHECK(expired.status == 401);
  CHECK(expired.error_code() == "invalid_token");
  CHECK(expired.body.find("expired") != std::string::npos);
  // Still listed, so its owner sees what happened to it.
  CHECK(api.get("/v1/tokens", token).json()["items"].size() == 2);
}

TEST_CASE("API tokens: a user holds at most 100, and a replay of a creation never shows the secret again") {
  ApiFixture api;
  const auto token = api.sign_up("alice");
  for (int i = 1; i < 100; ++i) REQUIRE(make_token(api, {{"name", "t" + std::to_string(i)}}, token).status == 201);
  auto refused = make_token(api, {{"name", "one too many"}}, token);
  CHECK(refused.status == 409);
  CHECK(refused.error_code() == "too_many_tokens");

  auto page = api.get("/v1/tokens?limit=100", token).json();
  CHECK(page["items"].size() == 100);
  CHECK(page["next_cursor"].is_null());
  auto first_page = api.get("/v1/tokens?limit=60", token).json();
  CHECK(first_page["items"].size() == 60);
  auto second_page = api.get("/v1/tokens?limit=60&cursor=" + first_page["next_cursor"].get<std::string>(), token).json();
  CHECK(second_page["items"].size() == 40);

  const auto last = std::to_string(page["items"][99]["id"].get<std::int64_t>());
  REQUIRE(delete_token(api, last, token).status == 204);
  auto keyed = api.post("/v1/tokens", {{"name", "ci"}}, token, {{"Idempotency-Key", "k1"}});
  REQUIRE(keyed.status == 201);
  CHECK(keyed.json()["token"].is_string());
  auto replay = api.post("/v1/tokens", {{"name", "ci"}}, token, {{"Idempotency-Key", "k1"}});
  CHECK(replay.status == 201);
  CHECK(replay.json()["token"].is_null());
  CHECK(replay.json()["id"] == keyed.json()["id"]);
}
