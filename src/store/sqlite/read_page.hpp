// Reads one page of an id-ordered listing, shared by every store listing.
#pragma once

#include "db/statement.hpp"
#include "store/records.hpp"

namespace pw::store {

// Runs `query` (already bound, selecting `limit + 1` rows in id order) into
// a page: the extra row only says there is a next page.
template <class T, class Read, class IdOf>
Page<T> read_page(db::Statement& query, int limit, Read read, IdOf id_of) {
  Page<T> page;
  while (query.step()) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_after = id_of(page.items.back());
      break;
    }
    page.items.push_back(read(query));
  }
  return page;
}

}  // namespace pw::store
