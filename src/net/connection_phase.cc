#include "net/connection_phase.h"

namespace rwd::net {

using Phase = ConnectionPhase;
using Event = ConnectionEvent;
using Action = ConnectionAction;

namespace {

// A close asked for on an open connection: the close frame goes out at once, unless a frame is
// being written (Beast writes one message at a time); then what is queued drains first.
ConnectionStep close_when_free(bool writing) {
  if (writing) return {Phase::kDraining, Action::kNone};
  return {Phase::kCloseSent, Action::kSendClose};
}

}  // namespace

ConnectionStep next_step(Phase phase, Event event, bool writing, bool close_requested) {
  const ConnectionStep stay{phase, Action::kNone};
  if (phase == Phase::kDone) return stay;  // nothing happens to a finished connection
  if (event == Event::kEnded) return {Phase::kDone, Action::kFinish};
  switch (phase) {
    case Phase::kHandshake:
      // A close asked for now waits for the handshake: a close frame needs an open stream.
      if (event == Event::kAccepted)
        return close_requested ? close_when_free(writing)
                               : ConnectionStep{Phase::kOpen, Action::kStartReading};
      return stay;
    case Phase::kOpen:
      if (event == Event::kCloseRequested) return close_when_free(writing);
      if (event == Event::kDeadline) return {Phase::kOpen, Action::kCheckSession, true};
      return stay;
    case Phase::kDraining:
      // The queue drained in time: now the close frame. The grace ran out first: a peer that
      // stopped reading never takes the frame in flight, so cut the socket under it. A second
      // close request changes nothing (the first one's code goes out).
      if (event == Event::kQueueDrained) return {Phase::kCloseSent, Action::kSendClose};
      if (event == Event::kDeadline) return {Phase::kDraining, Action::kCutSocket};
      return stay;
    case Phase::kCloseSent:
    case Phase::kDone:
      return stay;
  }
  return stay;
}

ConnectionDeadline deadline_for(Phase phase) {
  switch (phase) {
    case Phase::kOpen:
      return ConnectionDeadline::kSession;
    case Phase::kDraining:
      return ConnectionDeadline::kCloseGrace;
    case Phase::kHandshake:  // bounded by the WebSocket layer's handshake timeout
    case Phase::kCloseSent:  // likewise: it bounds the close handshake too
    case Phase::kDone:
      return ConnectionDeadline::kNone;
  }
  return ConnectionDeadline::kNone;
}

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::kHandshake:
      return "handshake";
    case Phase::kOpen:
      return "open";
    case Phase::kDraining:
      return "draining";
    case Phase::kCloseSent:
      return "close sent";
    case Phase::kDone:
      return "done";
  }
  return "?";
}

}  // namespace rwd::net
