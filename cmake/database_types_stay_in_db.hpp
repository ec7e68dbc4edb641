// Force-included into every target outside the database drivers (see
// CMakeLists.txt): SQLite's, SQLiteCpp's and libpq's names do not compile
// there, so their types cannot leak out of the database layer. Include
// db/connection.hpp and db/statement.hpp (SQLite) or db/postgres/*.hpp instead.
#pragma once
#pragma GCC poison SQLite sqlite3
#pragma GCC poison PGconn PGresult PQexec PQexecParams PQconnectdb PQconnectdbParams
