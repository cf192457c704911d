#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Thin wrappers over libsodium: the only place that includes sodium.h.
namespace rwd::crypto {

// Must be called once before any other function (sodium_init). Returns false on failure.
bool init();

// A URL-safe base64 (no padding) encoding of `bytes` random bytes.
std::string random_token(size_t bytes);

// SHA-256 of `data`, hex encoded: how tokens and verification keys are stored.
std::string sha256_hex(std::string_view data);
// The same digest as bytes, for holding in memory (32 bytes inline, where the hex string takes
// a 65-byte allocation), and its hex form.
using Sha256 = std::array<unsigned char, 32>;
Sha256 sha256(std::string_view data);
std::string to_hex(const Sha256& digest);

// Constant-time comparison of two equal-length strings; false when lengths differ.
bool equal_constant_time(std::string_view a, std::string_view b);

struct PasswordCost {
  uint64_t ops = 2;               // argon2id passes
  uint64_t mem_bytes = 19 << 20;  // memory per hash
};

// argon2id in libsodium's self-describing string form (salt and parameters included).
// Slow on purpose: call only from the hashing pool. Returns nullopt when out of memory.
std::optional<std::string> hash_password(std::string_view password, const PasswordCost& cost);
bool verify_password(std::string_view password, const std::string& stored_hash);

// Decodes standard or URL-safe base64, with or without padding. nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace rwd::crypto
