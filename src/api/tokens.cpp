// /v1/tokens: a user's bearer tokens. Any token of the user may make, list
// and revoke the user's tokens; another user's tokens are as absent as
// missing ones (404). A revoked token's row is deleted, and every request
// looks its token up afresh, so it is refused at once by every API process.
#include "api/api.hpp"
#include "api/auth.hpp"
#include "api/input.hpp"
#include "api/render.hpp"
#include "store/tokens.hpp"

namespace pw::api {
namespace {

const TextRule kTokenNameRule{0, 100, true, false};
// A user holds at most this many tokens: sign-up is open, so each account's
// rows are bounded.
constexpr std::int64_t max_tokens_per_user = 100;
constexpr std::int64_t max_token_lifetime_s = 366LL * 24 * 3600;

// The body may be left out: every member is optional.
nlohmann::json optional_json_object(const http::Request& request) {
  if (request.body.empty() && !request.has_header("content-type")) return nlohmann::json::object();
  return parse_json_object(request);
}

}  // namespace

http::Response Api::create_token(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    auto body = optional_json_object(request);
    ObjectReader reader(body);
    store::NewToken token;
    token.user_id = user.id;
    token.name = reader.optional_text("name", kTokenNameRule).value_or("");
    auto lifetime_s = reader.optional_integer("expires_in_seconds", 1, max_token_lifetime_s);
    reader.refuse_unknown_fields();
    return run_post(request, body, user.id, session, [&](storage::Session& writer) {
      auto& tokens = writer.tokens();
      if (tokens.count(user.id) >= max_tokens_per_user) {
        throw Refusal(409, "too_many_tokens",
                      "a user holds at most " + std::to_string(max_tokens_per_user) +
                          " tokens; revoke one with DELETE /v1/tokens/{id}");
      }
      const std::int64_t now = now_ms();
      if (lifetime_s) token.expires_at_ms = now + *lifetime_s * 1000;
      const std::string secret = new_token();
      token.token_hash = token_hash(secret);
      auto created = render(tokens.create(token, now));
      // Shown once: a replay of this request returns the token's record
      // with "token": null, because the secret itself is never stored.
      auto replay = created;
      created["token"] = secret;
      replay["token"] = nullptr;
      return Created{201, [created] { return created; }, [replay] { return replay; }};
    });
  });
}

http::Response Api::list_tokens(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto credential = authenticate_token(request, session, now_ms());
    const int limit = page_limit(request);
    const std::int64_t after = query_id(request, "cursor");
    auto page = render_page(session.tokens().list(credential.user.id, after, limit));
    // Which of them the caller is using, so a client can rotate away from it.
    for (auto& item : page["items"]) item["current"] = item["id"] == credential.token.id;
    return http::Response::json(200, page);
  });
}

http::Response Api::delete_token(const http::Request& request) {
  return with_session([&](storage::Session& session) {
    auto user = authenticate(request, session, now_ms());
    const auto token_id = path_id(request, "id", "token");
    if (!session.tokens().revoke(user.id, token_id)) refuse_not_found("token");
    return http::Response::text(204, "", "application/json");
  });
}

}  // namespace pw::api
