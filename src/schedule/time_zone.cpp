#include "schedule/time_zone.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <system_error>

namespace pw::schedule {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

// tzdata's largest files are about 4 KiB; anything far bigger is not one.
constexpr std::uintmax_t max_zone_file_bytes = 256 * 1024;
constexpr std::size_t max_zone_name_bytes = 128;
// RFC 8536 bounds a UTC offset to (-25 h, 26 h).
constexpr std::int32_t min_offset = -89999;
constexpr std::int32_t max_offset = 93599;

class Reader {
 public:
  explicit Reader(std::string_view bytes) : m_bytes(bytes) {}
  bool has(std::uint64_t count) const { return count <= m_bytes.size() - m_pos; }
  std::size_t position() const { return m_pos; }
  std::string_view rest() const { return m_bytes.substr(m_pos); }
  void skip(std::size_t count) { m_pos += count; }
  std::uint64_t unsigned_be(std::size_t width) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<unsigned char>(m_bytes[m_pos++]);
    return value;
  }
  std::int64_t signed_be(std::size_t width) {
    std::uint64_t value = unsigned_be(width);
    if (width < 8 && (value >> (width * 8 - 1))) value |= ~std::uint64_t{0} << (width * 8);
    return static_cast<std::int64_t>(value);
  }

 private:
  std::string_view m_bytes;
  std::size_t m_pos = 0;
};

struct Header {
  char version = 0;
  std::uint64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
  std::uint64_t block_bytes(std::size_t time_width) const {
    return timecnt * time_width + timecnt + typecnt * 6 + charcnt + leapcnt * (time_width + 4) + isstdcnt + isutcnt;
  }
};

std::optional<Header> read_header(Reader& in) {
  if (!in.has(44) || in.rest().substr(0, 4) != "TZif") return std::nullopt;
  Header header;
  in.skip(4);
  header.version = static_cast<char>(in.unsigned_be(1));
  in.skip(15);
  for (std::uint64_t* count : {&header.isutcnt, &header.isstdcnt, &header.leapcnt, &header.timecnt, &header.typecnt,
                               &header.charcnt}) {
    *count = in.unsigned_be(4);
  }
  return header;
}

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > max_zone_name_bytes) return false;
  std::size_t component_start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      // Empty components and ones starting with a dot ("..", hidden files)
      // are what would lead outside the zoneinfo folder.
      if (i == component_start || name[component_start] == '.') return false;
      component_start = i + 1;
      continue;
    }
    char c = name[i];
    bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                   c == '+' || c == '-' || c == '.';
    if (!allowed) return false;
  }
  return true;
}

TimeZoneResult failure(std::string message) { return TimeZoneResult{std::nullopt, std::move(message)}; }

}  // namespace

TimeZone TimeZone::utc() {
  TimeZone zone;
  zone.m_name = "UTC";
  return zone;
}

TimeZoneResult TimeZone::load(std::string_view name, const std::filesystem::path& zoneinfo_dir) {
  if (name == "UTC") return TimeZoneResult{utc(), {}};
  if (!valid_zone_name(name)) {
    return failure("time zone: not an IANA zone name (letters, digits, '/', '_', '+', '-', '.'; at most 128 bytes)");
  }
  const std::string quoted = "'" + std::string(name) + "'";
  const auto path = zoneinfo_dir / std::string(name);
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return failure("time zone: unknown zone " + quoted);
  auto size = std::filesystem::file_size(path, error);
  if (error || size > max_zone_file_bytes) return failure("time zone: " + quoted + " is not a zone file");
  std::ifstream file(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (!file && !file.eof()) return failure("time zone: cannot read " + quoted);
  auto result = from_tzif(std::string(name), bytes);
  if (!result.zone) result.error = "time zone: " + quoted + ": " + result.error;
  return result;
}

TimeZoneResult TimeZone::load(std::string_view name) {
  return load(name, std::filesystem::path(default_zoneinfo_dir));
}

TimeZoneResult TimeZone::from_tzif(std::string name, std::string_view bytes) {
  Reader in(bytes);
  auto header = read_header(in);
  if (!header) return failure("not a TZif file");
  std::size_t time_width = 4;
  if (header->version >= '2') {
    // Version 2+ files repeat the data with 64-bit times after the v1 block.
    if (!in.has(header->block_bytes(4))) return failure("truncated");
    in.skip(header->block_bytes(4));
    header = read_header(in);
    if (!header) return failure("truncated");
    time_width = 8;
  }
  const Header& h = *header;
  if (h.typecnt == 0 || h.typecnt > 256) return failure("bad count of local time types");
  if ((h.isstdcnt != 0 && h.isstdcnt != h.typecnt) || (h.isutcnt != 0 && h.isutcnt != h.typecnt)) {
    return failure("bad indicator counts");
  }
  // Leap-second zones ("right/...") count seconds that sys_seconds does not.
  if (h.leapcnt != 0) return failure("zones with leap seconds are not supported");
  if (!in.has(h.block_bytes(time_width))) return failure("truncated");

  TimeZone zone;
  zone.m_name = std::move(name);
  zone.m_at.reserve(h.timecnt);
  for (std::uint64_t i = 0; i < h.timecnt; ++i) {
    zone.m_at.push_back(in.signed_be(time_width));
    if (i > 0 && zone.m_at[i] <= zone.m_at[i - 1]) return failure("transitions out of order");
  }
  std::vector<std::uint8_t> type_of(h.timecnt);
  for (auto& type : type_of) {
    type = static_cast<std::uint8_t>(in.unsigned_be(1));
    if (type >= h.typecnt) return failure("bad local time type index");
  }
  std::vector<std::int32_t> offsets(h.typecnt);
  for (auto& offset : offsets) {
    offset = static_cast<std::int32_t>(in.signed_be(4));
    in.skip(2);  // is-DST flag and abbreviation index: a schedule needs neither
    if (offset < min_offset || offset > max_offset) return failure("UTC offset out of range");
  }
  in.skip(h.charcnt + h.isstdcnt + h.isutcnt);
  zone.m_initial_offset = offsets[0];
  for (auto type : type_of) zone.m_offset_after.push_back(offsets[type]);

  if (time_width == 8) {
    std::string_view rest = in.rest();
    if (rest.empty() || rest[0] != '\n') return failure("missing footer");
    auto end = rest.find('\n', 1);
    if (end == std::string_view::npos) return failure("unterminated footer");
    std::string_view footer = rest.substr(1, end - 1);
    if (!footer.empty()) {
      zone.m_rule = PosixRule::parse(footer);
      if (!zone.m_rule) return failure("unreadable footer rule");
    }
  }
  return TimeZoneResult{std::move(zone), {}};
}

std::chrono::seconds TimeZone::offset_at(sys_seconds when) const {
  const std::int64_t t = when.time_since_epoch().count();
  if (m_rule && (m_at.empty() || t >= m_at.back())) return m_rule->offset_at(when);
  auto after = std::upper_bound(m_at.begin(), m_at.end(), t);
  if (after == m_at.begin()) return seconds(m_initial_offset);
  return seconds(m_offset_after[static_cast<std::size_t>(after - m_at.begin()) - 1]);
}

std::vector<Transition> TimeZone::transitions(sys_seconds from, sys_seconds to) const {
  std::vector<Transition> out;
  auto i = static_cast<std::size_t>(std::upper_bound(m_at.begin(), m_at.end(), from.time_since_epoch().count()) -
                                    m_at.begin());
  for (; i < m_at.size() && m_at[i] <= to.time_since_epoch().count(); ++i) {
    seconds before(i == 0 ? m_initial_offset : m_offset_after[i - 1]);
    seconds after(m_offset_after[i]);
    if (before != after) out.push_back(Transition{sys_seconds(seconds(m_at[i])), before, after});
  }
  if (m_rule) {
    sys_seconds rule_from = m_at.empty() ? from : std::max(from, sys_seconds(seconds(m_at.back())));
    for (const auto& change : m_rule->transitions(rule_from, to)) {
      if (change.before != change.after) out.push_back(change);
    }
  }
  return out;
}

LocalInstant TimeZone::resolve(std::chrono::local_seconds local) const {
  // The candidates are local - offset for each offset in force near it; a
  // candidate is real when the zone agrees it has that offset then.
  const sys_seconds as_utc(local.time_since_epoch());
  const auto window = std::chrono::days(2);
  const auto changes = transitions(as_utc - window, as_utc + window);
  std::vector<seconds> offsets{offset_at(as_utc - window)};
  for (const auto& change : changes) offsets.push_back(change.after);
  std::vector<sys_seconds> real;
  for (auto offset : offsets) {
    sys_seconds candidate = as_utc - offset;
    if (offset_at(candidate) == offset) real.push_back(candidate);
  }
  std::sort(real.begin(), real.end());
  real.erase(std::unique(real.begin(), real.end()), real.end());
  if (real.size() == 1) return LocalInstant{LocalInstant::Kind::unique, real[0], real[0]};
  if (real.size() > 1) return LocalInstant{LocalInstant::Kind::repeated, real.front(), real.back()};
  for (const auto& change : changes) {
    if (change.after > change.before && as_utc >= change.at + change.before && as_utc < change.at + change.after) {
      return LocalInstant{LocalInstant::Kind::skipped, change.at, change.at};
    }
  }
  // Unreachable with a consistent zone file; still a defined answer.
  sys_seconds fallback = as_utc - offsets.front();
  return LocalInstant{LocalInstant::Kind::skipped, fallback, fallback};
}

}  // namespace pw::schedule
