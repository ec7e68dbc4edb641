// Force-included into every target outside src/db/ (see CMakeLists.txt):
// SQLite's and SQLiteCpp's names do not compile there, so their types cannot
// leak out of the database layer. Include db/connection.hpp and
// db/statement.hpp instead.
#pragma once
#pragma GCC poison SQLite sqlite3
