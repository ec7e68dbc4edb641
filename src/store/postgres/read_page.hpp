// Reads one page of an id-ordered listing from a PostgreSQL result, shared
// by every listing of store/postgres/ (store/sqlite/read_page.hpp's twin).
#pragma once

#include "db/postgres/rows.hpp"
#include "store/records.hpp"

namespace pw::store {

// `rows` selected `limit + 1` rows in id order: the extra row only says
// there is a next page.
template <class T, class Read, class IdOf>
Page<T> read_page(const db::postgres::Rows& rows, int limit, Read read, IdOf id_of) {
  Page<T> page;
  for (int row = 0; row < rows.size(); ++row) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_after = id_of(page.items.back());
      break;
    }
    page.items.push_back(read(rows, row));
  }
  return page;
}

}  // namespace pw::store
