// Route templates such as /v1/worlds/{id}/personas:generate, matched segment
// by segment: a {name} segment matches one non-empty path segment. Knowing
// the template lets metrics and logs label by route, never by raw path.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace pw::http {

class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    std::size_t metrics_handle = 0;
  };

  struct Match {
    const Route* route = nullptr;           // set when path and method match
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed;       // methods of templates the path matches
  };

  // Throws std::invalid_argument for a malformed pattern or a duplicate.
  Route& add(std::string method, std::string pattern, Handler handler);
  Match match(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return m_routes; }

 private:
  std::vector<Route> m_routes;
};

std::vector<std::string> split_path(std::string_view path);

}  // namespace pw::http
