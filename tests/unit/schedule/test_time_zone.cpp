#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "schedule/posix_rule.hpp"
#include "schedule/time_zone.hpp"

using namespace pw::schedule;
using namespace std::chrono;

namespace {

sys_seconds utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi);
}

local_seconds wall(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return local_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi);
}

TimeZone zone(std::string_view name) {
  auto result = TimeZone::load(name);
  CAPTURE(result.error);
  REQUIRE(result.zone);
  return *result.zone;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("time zone: UTC is built in and needs no zoneinfo folder") {
  auto result = TimeZone::load("UTC", "/nonexistent");
  REQUIRE(result.zone);
  CHECK(result.zone->offset_at(utc(2025, 7, 1)) == seconds(0));
  CHECK(result.zone->resolve(wall(2025, 7, 1, 12)).first == utc(2025, 7, 1, 12));
  CHECK(TimeZone::load("Europe/Berlin", "/nonexistent").error == "time zone: unknown zone 'Europe/Berlin'");
}

TEST_CASE("time zone: offsets from the zone file, winter and summer, now and after 2037") {
  auto new_york = zone("America/New_York");
  CHECK(new_york.offset_at(utc(2025, 1, 15)) == hours(-5));
  CHECK(new_york.offset_at(utc(2025, 7, 15)) == hours(-4));
  CHECK(new_york.offset_at(utc(2025, 3, 9, 6, 59)) == hours(-5));
  CHECK(new_york.offset_at(utc(2025, 3, 9, 7, 0)) == hours(-4));
  CHECK(new_york.offset_at(utc(2060, 7, 15)) == hours(-4));
  CHECK(new_york.offset_at(utc(2060, 12, 15)) == hours(-5));
  auto sydney = zone("Australia/Sydney");
  CHECK(sydney.offset_at(utc(2050, 1, 15)) == hours(11));
  CHECK(sydney.offset_at(utc(2050, 7, 15)) == hours(10));
}

TEST_CASE("time zone: a wall-clock time is unique, repeated or skipped") {
  auto new_york = zone("America/New_York");
  auto plain = new_york.resolve(wall(2025, 6, 1, 12));
  CHECK(plain.kind == LocalInstant::Kind::unique);
  CHECK(plain.first == utc(2025, 6, 1, 16));
  auto repeated = new_york.resolve(wall(2025, 11, 2, 1, 30));
  CHECK(repeated.kind == LocalInstant::Kind::repeated);
  CHECK(repeated.first == utc(2025, 11, 2, 5, 30));
  CHECK(repeated.second == utc(2025, 11, 2, 6, 30));
  auto skipped = new_york.resolve(wall(2025, 3, 9, 2, 30));
  CHECK(skipped.kind == LocalInstant::Kind::skipped);
  CHECK(skipped.first == utc(2025, 3, 9, 7, 0));
  // Samoa skipped all of 2011-12-30.
  auto apia = zone("Pacific/Apia");
  CHECK(apia.resolve(wall(2011, 12, 30, 12)).kind == LocalInstant::Kind::skipped);
  CHECK(apia.resolve(wall(2011, 12, 30, 12)).first == utc(2011, 12, 30, 10));
}

TEST_CASE("time zone: damaged or unsupported zone files are refused") {
  const std::string new_york = file_bytes("/usr/share/zoneinfo/America/New_York");
  REQUIRE(new_york.size() > 100);
  CHECK(TimeZone::from_tzif("x", new_york).zone);
  // Every cut short copy, down to nothing, fails cleanly.
  for (std::size_t size = 0; size < new_york.size(); ++size) {
    if (TimeZone::from_tzif("x", std::string_view(new_york).substr(0, size)).zone) {
      FAIL_CHECK("a truncated zone file was accepted");
      break;
    }
  }
  CHECK(TimeZone::from_tzif("x", "not a zone file").error == "not a TZif file");
  const std::string leap_seconds = file_bytes("/usr/share/zoneinfo/right/UTC");
  if (!leap_seconds.empty()) {
    CHECK(TimeZone::from_tzif("right/UTC", leap_seconds).error == "zones with leap seconds are not supported");
  }
}

TEST_CASE("POSIX TZ rule: the footer forms of RFC 8536") {
  auto new_york = PosixRule::parse("EST5EDT,M3.2.0,M11.1.0");
  REQUIRE(new_york);
  auto changes = new_york->transitions(utc(2040, 1, 1), utc(2041, 1, 1));
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].at == utc(2040, 3, 11, 7));
  CHECK(changes[0].before == hours(-5));
  CHECK(changes[0].after == hours(-4));
  CHECK(changes[1].at == utc(2040, 11, 4, 6));

  auto tehran = PosixRule::parse("<+0330>-3:30");
  REQUIRE(tehran);
  CHECK(tehran->offset_at(utc(2050, 6, 1)) == hours(3) + minutes(30));
  CHECK(tehran->transitions(utc(2050, 1, 1), utc(2051, 1, 1)).empty());

  // Julian days never count February 29: J60 is March 1, in leap years too.
  auto julian = PosixRule::parse("XST0XDT,J60/0,J300/0");
  REQUIRE(julian);
  CHECK(julian->transitions(utc(2040, 1, 1), utc(2040, 6, 1)).at(0).at == utc(2040, 3, 1));
  // Rule times beyond 24 h (RFC 8536 allows up to 167 h) and all-year DST.
  auto all_year = PosixRule::parse("EST5EDT4,0/0,J365/25");
  REQUIRE(all_year);
  CHECK(all_year->offset_at(utc(2050, 1, 1, 12)) == hours(-4));
  CHECK(all_year->offset_at(utc(2050, 7, 1, 12)) == hours(-4));

  for (const char* bad : {"", "EST", "ES5", "EST5EDT", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0",
                          "EST25", "EST5EDT,M3.2.0", "EST5EDT,J0,J365", "EST5EDT,M3.2.0/168,M11.1.0", "<AB>5",
                          "EST5EDT,M3.2.0,M11.1.0x"}) {
    CAPTURE(bad);
    CHECK_FALSE(PosixRule::parse(bad));
  }
}
