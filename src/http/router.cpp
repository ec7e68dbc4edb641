#include "http/router.hpp"

#include <algorithm>
#include <stdexcept>

namespace pw::http {
namespace {

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 1;  // paths start with '/'
  if (path.empty() || path.front() != '/') return {"\x01"};  // matches nothing
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

Router::Route& Router::add(std::string method, std::string pattern, Handler handler) {
  auto segments = split_path(pattern);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    // A trailing slash is part of a template (/admin/ is not /admin); an
    // empty segment anywhere else is a typo.
    const bool trailing_slash = i + 1 == segments.size() && segments.size() > 1;
    if (segments[i].empty() && !trailing_slash) throw std::invalid_argument("empty segment in route " + pattern);
  }
  for (const auto& route : m_routes) {
    if (route.method == method && route.pattern == pattern) {
      throw std::invalid_argument("duplicate route " + method + " " + pattern);
    }
  }
  m_routes.push_back(Route{std::move(method), std::move(pattern), std::move(segments), std::move(handler)});
  return m_routes.back();
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  auto segments = split_path(path);
  for (const auto& route : m_routes) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      const auto& want = route.segments[i];
      if (is_param(want)) {
        ok = !segments[i].empty();
        if (ok) params[want.substr(1, want.size() - 2)] = segments[i];
      } else {
        ok = want == segments[i];
      }
    }
    if (!ok) continue;
    // HEAD is answered by the GET handler (without a body).
    bool method_ok = route.method == method || (method == "HEAD" && route.method == "GET");
    if (method_ok && result.route == nullptr) {
      result.route = &route;
      result.params = std::move(params);
    }
    if (std::find(result.allowed.begin(), result.allowed.end(), route.method) == result.allowed.end()) {
      result.allowed.push_back(route.method);
    }
  }
  return result;
}

}  // namespace pw::http
