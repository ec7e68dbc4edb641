// Hashing and randomness from OpenSSL's libcrypto; nothing hand-rolled.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace pw::crypto {

// Lowercase hex SHA-256 of the bytes.
std::string sha256_hex(std::string_view data);

// SHA-256 over data fed in pieces: for digests of more than fits in memory
// (a table's rows, one at a time).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // Lowercase hex of everything fed so far; the object is spent afterwards.
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> m_context;
};

// n cryptographically random bytes as 2n lowercase hex characters.
std::string random_hex(std::size_t n_bytes);

// Compares in time that depends only on the lengths, not on the contents.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pw::crypto
