# Writes a C++ source holding every file of the operator console's page
# (src/admin/page/*), sorted by name, as raw string literals.
file(GLOB files ${SRC_DIR}/*)
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} content)
  string(FIND "${content}" ")pwasset\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${name} contains the raw-string delimiter")
  endif()
  string(APPEND body "    {\"${name}\", R\"pwasset(${content})pwasset\"},\n")
endforeach()
file(WRITE ${OUT}.tmp
"// Generated from src/admin/page/* at build time; do not edit.
#include \"admin/embedded_assets.hpp\"

namespace pw::admin {

const std::vector<EmbeddedAsset>& embedded_assets() {
  static const std::vector<EmbeddedAsset> assets = {
${body}  };
  return assets;
}

}  // namespace pw::admin
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
