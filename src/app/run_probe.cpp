#include <httplib.h>

#include <iostream>
#include <regex>

#include "app/roles.hpp"

namespace pw::app {

int run_probe(const config::ProbeConfig& config) {
  static const std::regex url_pattern(R"(^(http://[^/]+)(/.*)?$)");
  std::smatch parts;
  if (!std::regex_match(config.url, parts, url_pattern)) {
    std::cerr << "personaworlds probe: '" << config.url << "' is not an http:// URL\n";
    return 2;
  }
  httplib::Client client(parts[1].str());
  auto timeout = std::chrono::milliseconds(config.timeout_ms);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  auto result = client.Get(parts[2].matched ? parts[2].str() : "/");
  if (!result) {
    std::cerr << "probe: " << httplib::to_string(result.error()) << "\n";
    return 1;
  }
  std::cout << result->status << "\n";
  return result->status >= 200 && result->status < 300 ? 0 : 1;
}

}  // namespace pw::app
