// The db::Error a piece of work throws, for tests of the database layers.
#pragma once

#include <doctest/doctest.h>

#include <optional>

#include "db/error.hpp"

namespace pw::test {

// The db::Error `work` throws; fails the test when it throws none.
template <class Work>
std::optional<db::Error> error_from(Work&& work) {
  try {
    work();
  } catch (const db::Error& e) {
    return e;
  }
  FAIL("expected a db::Error");
  return std::nullopt;
}

}  // namespace pw::test
