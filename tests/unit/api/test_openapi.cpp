// docs/openapi.yaml and the routes the server registers must agree, path for
// path and method for method. No YAML library is available, so the document
// keeps a regular layout (see its header) that a line scanner can read.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "app/health.hpp"
#include "unit/api/api_fixture.hpp"

using namespace pw;

namespace {

using RouteSet = std::set<std::string>;  // "METHOD /path/{template}"

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// The paths and methods under the top-level `paths:` key.
RouteSet document_routes(const std::string& yaml) {
  static const std::regex path_line(R"(^  (/[^\s:]*(?::[^\s:]+)*):\s*$)");
  static const std::regex method_line(R"(^    (get|put|post|delete|patch|head|options|trace):\s*$)");
  RouteSet routes;
  std::istringstream lines(yaml);
  std::string line;
  bool in_paths = false;
  std::string current;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (line.front() != ' ') {
      in_paths = line == "paths:";
      current.clear();
      continue;
    }
    if (!in_paths) continue;
    std::smatch match;
    if (std::regex_match(line, match, path_line)) {
      current = match[1];
    } else if (std::regex_match(line, match, method_line)) {
      REQUIRE_MESSAGE(!current.empty(), "a method outside a path: " << line);
      routes.insert(upper(match[1]) + " " + current);
    }
  }
  return routes;
}

RouteSet server_routes() {
  test::ApiFixture api;
  // run_api registers the health routes beside the /v1 routes, as here.
  auto& server = api.server();
  static const std::atomic<bool> not_shutting_down{false};
  app::register_health_routes(server, {api.db(), api.storage(), api.metrics(), not_shutting_down});
  RouteSet routes;
  for (const auto& route : server.router().routes()) routes.insert(route.method + " " + route.pattern);
  return routes;
}

std::string read_document() {
  const auto path = std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "docs" / "openapi.yaml";
  std::ifstream file(path);
  REQUIRE_MESSAGE(file.good(), "cannot read " << path.string());
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string difference(const RouteSet& a, const RouteSet& b) {
  std::string out;
  for (const auto& route : a) {
    if (!b.contains(route)) out += "  " + route + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("OpenAPI: the document's paths and methods are exactly the server's routes") {
  const auto documented = document_routes(read_document());
  const auto served = server_routes();
  REQUIRE(documented.size() > 10);
  INFO("served but not documented:\n" << difference(served, documented));
  INFO("documented but not served:\n" << difference(documented, served));
  CHECK(documented == served);
}

TEST_CASE("OpenAPI: the scanner reads paths and methods, and notices a missing one") {
  const std::string yaml =
      "openapi: 3.1.0\n"
      "paths:\n"
      "  /v1/a/{id}:\n"
      "    parameters:\n"
      "      - name: id\n"
      "    get:\n"
      "      responses:\n"
      "        '200': {description: ok}\n"
      "    delete:\n"
      "      summary: x\n"
      "  /v1/a/{id}/b:generate:\n"
      "    post:\n"
      "      summary: y\n"
      "components:\n"
      "  schemas:\n"
      "    get:\n";
  const auto routes = document_routes(yaml);
  CHECK(routes == RouteSet{"GET /v1/a/{id}", "DELETE /v1/a/{id}", "POST /v1/a/{id}/b:generate"});

  // The real document with one method taken out no longer matches the server.
  std::string document = read_document();
  const auto cut = document.find("\n    delete:\n");
  REQUIRE(cut != std::string::npos);
  document.replace(cut, std::string("\n    delete:\n").size(), "\n    x-removed:\n");
  CHECK(document_routes(document) != server_routes());
}
