// The files of src/admin/page/, compiled into the binary (see
// cmake/EmbedAssets.cmake). Served through find_asset (admin/assets.hpp).
#pragma once

#include <string_view>
#include <vector>

namespace pw::admin {

struct EmbeddedAsset {
  std::string_view name;  // file name, e.g. "app.js"
  std::string_view body;
};

// In name order.
const std::vector<EmbeddedAsset>& embedded_assets();

}  // namespace pw::admin
