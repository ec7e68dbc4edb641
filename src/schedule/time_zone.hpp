// IANA time zones read from the system's compiled tzdata (TZif files, RFC
// 8536). libstdc++ 12 (Debian 12) has no std::chrono::locate_zone, and
// localtime_r reads the process-wide TZ variable; reading the file ourselves
// keeps a zone a plain immutable value that any thread can use.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schedule/posix_rule.hpp"

namespace pw::schedule {

inline constexpr std::string_view default_zoneinfo_dir = "/usr/share/zoneinfo";

// What a local (wall-clock) time is in UTC.
struct LocalInstant {
  enum class Kind {
    unique,     // exists once: first
    repeated,   // a fall-back overlap: first and second, in order
    skipped,    // a spring-forward gap: first is the instant the gap ends
  } kind = Kind::unique;
  std::chrono::sys_seconds first;
  std::chrono::sys_seconds second;
};

struct TimeZoneResult;

class TimeZone {
 public:
  // UTC, built in: the default needs no tzdata installed.
  static TimeZone utc();
  // "UTC" or an IANA name ("Europe/Berlin") found under zoneinfo_dir. Names
  // are checked before any file is opened: no "..", no absolute paths.
  static TimeZoneResult load(std::string_view name, const std::filesystem::path& zoneinfo_dir);
  static TimeZoneResult load(std::string_view name);
  // The contents of a TZif file; name is only recorded.
  static TimeZoneResult from_tzif(std::string name, std::string_view bytes);

  const std::string& name() const { return m_name; }
  std::chrono::seconds offset_at(std::chrono::sys_seconds when) const;
  LocalInstant resolve(std::chrono::local_seconds local) const;
  // Changes of offset in (from, to], in order; changes of name alone left out.
  std::vector<Transition> transitions(std::chrono::sys_seconds from, std::chrono::sys_seconds to) const;

 private:
  TimeZone() = default;

  std::string m_name;
  std::vector<std::int64_t> m_at;              // transition instants, ascending
  std::vector<std::int32_t> m_offset_after;    // UTC offset from m_at[i] on
  std::int32_t m_initial_offset = 0;           // before the first transition
  std::optional<PosixRule> m_rule;             // after the last transition
};

struct TimeZoneResult {
  std::optional<TimeZone> zone;  // set when error is empty
  std::string error;
};

}  // namespace pw::schedule
