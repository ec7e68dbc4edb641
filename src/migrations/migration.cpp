#include "migrations/migration.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "crypto/digest.hpp"

namespace pw::migrations {

std::optional<FileName> parse_file_name(std::string_view name) {
  constexpr std::string_view suffix = ".sql";
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return std::nullopt;
  name.remove_suffix(suffix.size());
  std::size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
  if (digits < 4 || digits > 9 || digits + 1 >= name.size() || name[digits] != '_') {
    return std::nullopt;
  }
  std::string_view description = name.substr(digits + 1);
  for (char c : description) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return std::nullopt;
  }
  int version = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + digits, version);
  if (ec != std::errc() || version <= 0) return std::nullopt;
  return FileName{version, std::string(description)};
}

std::vector<Migration> load(const std::vector<EmbeddedFile>& files) {
  std::vector<Migration> out;
  out.reserve(files.size());
  for (const auto& file : files) {
    auto parsed = parse_file_name(file.name);
    if (!parsed) {
      throw std::invalid_argument("migration file '" + std::string(file.name) +
                                  "' is not named NNNN_description.sql");
    }
    out.push_back(Migration{parsed->version, std::string(file.name), std::string(file.sql),
                            crypto::sha256_hex(file.sql)});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      throw std::invalid_argument("migrations '" + out[i - 1].name + "' and '" + out[i].name +
                                  "' share version " + std::to_string(out[i].version));
    }
  }
  return out;
}

namespace {

std::vector<Migration> load_dialect(Dialect dialect) {
  std::vector<EmbeddedFile> files;
  for (const auto& file : embedded_files()) {
    if (file.dialect == dialect) files.push_back(file);
  }
  return load(files);
}

}  // namespace

const std::vector<Migration>& embedded(Dialect dialect) {
  static const std::vector<Migration> sqlite = load_dialect(Dialect::sqlite);
  static const std::vector<Migration> postgres = load_dialect(Dialect::postgres);
  return dialect == Dialect::postgres ? postgres : sqlite;
}

}  // namespace pw::migrations
