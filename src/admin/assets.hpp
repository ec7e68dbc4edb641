// The operator console's page (index.html, app.js, app.css), embedded at
// build time so the binary serves it with no files beside it.
#pragma once

#include <optional>
#include <string_view>

namespace pw::admin {

struct Asset {
  std::string_view content_type;  // with charset, e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

// The asset named `name` ("index.html", "app.js", "app.css"), or nothing for
// any other name: there is no path lookup, so no traversal.
std::optional<Asset> find_asset(std::string_view name);

}  // namespace pw::admin
