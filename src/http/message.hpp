// The request and response our handlers see: plain data, no HTTP library
// types, so src/api/ and the worker never include httplib.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pw::http {

struct Request {
  std::string method;
  std::string path;   // decoded
  std::string route;  // the matched template, e.g. /v1/worlds/{id}
  std::string body;
  std::string request_id;
  std::string remote_addr;
  std::map<std::string, std::string> path_params;
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased

  // Set by a handler once the caller is authenticated, for the access log.
  mutable std::optional<std::int64_t> user_id;

  // Case-insensitive; empty when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for error responses; the server renders them as
  // {"error":{"code","message","request_id"}} once the request id is known.
  std::optional<std::pair<std::string, std::string>> error;  // code, message

  static Response json(int status, const nlohmann::json& body);
  static Response text(int status, std::string body, std::string content_type);
  static Response failure(int status, std::string code, std::string message);
  Response& with_header(std::string name, std::string value);
};

using Handler = std::function<Response(const Request&)>;

// The JSON error body of the API's error contract.
std::string render_error(std::string_view code, std::string_view message, std::string_view request_id);

}  // namespace pw::http
