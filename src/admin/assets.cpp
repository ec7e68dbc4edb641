#include "admin/assets.hpp"

#include "admin/embedded_assets.hpp"

namespace pw::admin {

namespace {

// Only the types the page uses: a file of any other kind is not served, so
// nothing is ever sent with a guessed type.
std::optional<std::string_view> content_type_for(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return std::nullopt;
}

}  // namespace

std::optional<Asset> find_asset(std::string_view name) {
  for (const auto& asset : embedded_assets()) {
    if (asset.name != name) continue;
    const auto type = content_type_for(asset.name);
    if (!type) return std::nullopt;
    return Asset{*type, asset.body};
  }
  return std::nullopt;
}

}  // namespace pw::admin
