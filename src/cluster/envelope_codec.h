#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "domain/directory_change.h"
#include "domain/event_bus.h"

// What one node tells the others through the broker, as bytes: an envelope
// {"origin": node instance, "kind": what it is, "fields": {...}} in JSON, encoded once per
// message whatever the number of channels it goes to. The decoder trusts nothing: a payload
// another program (or a bug) put on a channel is refused with the kind of failure, never a
// crash.
//
// Request origins travel as they are (a connection id is unique within its node only): the
// receiver knows from `origin` that they are another node's and must not match them to its
// own connections (the cluster bus clears them).
namespace rwd::cluster {

// A node's notice on rw:dir that some of what it published never reached the broker (its link
// was down, or its queue to the server full): the other nodes reload and sweep, as after an
// outage of their own.
struct Resync {};

using Body = std::variant<domain::Event, domain::DirectoryChange, Resync>;

struct Envelope {
  std::string origin;  // the node instance that published it
  // A directory change's place among its origin's (1, 2, 3...; "n"): a receiver that sees a
  // number skipped lost one and reloads. 0: none (an event, or an older node).
  uint64_t position = 0;
  Body body;
};

std::string encode_envelope(std::string_view origin, const domain::Event& event);
std::string encode_envelope(std::string_view origin, const domain::DirectoryChange& change,
                            uint64_t position = 0);
std::string encode_resync(std::string_view origin);

enum class DecodeFailure {
  kBadJson,        // not JSON (or not UTF-8)
  kNotAnEnvelope,  // no object with origin, kind and fields
  kUnknownKind,    // a kind this version does not know
  kBadField,       // a field missing, of the wrong type or out of range
};
inline constexpr int kDecodeFailureKinds = 4;
const char* decode_failure_name(DecodeFailure failure);

struct DecodeResult {
  bool ok = false;
  Envelope envelope;        // when ok
  DecodeFailure failure{};  // when not
  std::string detail;       // when not: which kind or field
};
DecodeResult decode_envelope(std::string_view payload);

}  // namespace rwd::cluster
