// Hashing and randomness from OpenSSL's libcrypto; nothing hand-rolled.
#pragma once

#include <string>
#include <string_view>

namespace pw::crypto {

// Lowercase hex SHA-256 of the bytes.
std::string sha256_hex(std::string_view data);

// n cryptographically random bytes as 2n lowercase hex characters.
std::string random_hex(std::size_t n_bytes);

// Compares in time that depends only on the lengths, not on the contents.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pw::crypto
