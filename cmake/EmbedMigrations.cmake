# Writes a C++ source holding every migrations/<dialect>/NNNN_*.sql file, per
# dialect (sqlite, postgres), sorted by name.
set(body "")
foreach(dialect sqlite postgres)
  file(GLOB files ${SRC_DIR}/${dialect}/*.sql)
  list(SORT files)
  foreach(f ${files})
    get_filename_component(name ${f} NAME)
    file(READ ${f} sql)
    string(FIND "${sql}" ")pwsql\"" clash)
    if(NOT clash EQUAL -1)
      message(FATAL_ERROR "${dialect}/${name} contains the raw-string delimiter")
    endif()
    string(APPEND body "    {\"${name}\", R\"pwsql(${sql})pwsql\", Dialect::${dialect}},\n")
  endforeach()
endforeach()
file(WRITE ${OUT}.tmp
"// Generated from migrations/<dialect>/*.sql at build time; do not edit.
#include \"migrations/embedded.hpp\"

namespace pw::migrations {

const std::vector<EmbeddedFile>& embedded_files() {
  static const std::vector<EmbeddedFile> files = {
${body}  };
  return files;
}

}  // namespace pw::migrations
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
