// Migration file names: a parse either fails or yields a positive version and
// a description that rebuilds the same name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "migrations/migration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = pw::migrations::parse_file_name(input);
  if (!parsed) return 0;
  if (parsed->version <= 0 || parsed->description.empty()) std::abort();
  std::string digits(input.substr(0, input.find('_')));
  if (std::to_string(parsed->version).size() > digits.size()) std::abort();
  if (std::string(input) != digits + "_" + parsed->description + ".sql") std::abort();
  return 0;
}
