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

// The peer's close frame: the WebSocket layer answers it with ours as soon as no frame of ours
// is being written. Until then a peer that sent it and stopped reading would hold the
// connection for good (the session's deadlines end with the session), so the close grace
// bounds the frame in flight, as for a close the server asks for.
ConnectionStep answer_peer_close(bool writing) {
  if (writing) return {Phase::kPeerClosing, Action::kNone};
  return {Phase::kCloseSent, Action::kNone};
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
      if (event == Event::kPeerClosed) return answer_peer_close(writing);
      if (event == Event::kDeadline) return {Phase::kOpen, Action::kCheckSession, true};
      return stay;
    case Phase::kDraining:
      // The queue drained in time: now the close frame. The grace ran out first: a peer that
      // stopped reading never takes the frame in flight, so cut the socket under it. A second
      // close request changes nothing (the first one's code goes out). The peer's close frame
      // came first: the WebSocket layer answers that one, and what is queued is dropped.
      if (event == Event::kQueueDrained) return {Phase::kCloseSent, Action::kSendClose};
      if (event == Event::kDeadline) return {Phase::kDraining, Action::kCutSocket};
      if (event == Event::kPeerClosed) return answer_peer_close(writing);
      return stay;
    case Phase::kPeerClosing:
      // The frame in flight went out: the WebSocket layer now sends its answer. Or the grace
      // ran out first: cut the socket under the frame. A close asked for now is not sent (the
      // answer to the peer's is the connection's close frame).
      if (event == Event::kQueueDrained) return {Phase::kCloseSent, Action::kNone};
      if (event == Event::kDeadline) return {Phase::kPeerClosing, Action::kCutSocket};
      return stay;
    case Phase::kCloseSent:
      // The close frame's write never completed (a peer that stopped reading): cut it.
      if (event == Event::kDeadline) return {Phase::kCloseSent, Action::kCutSocket};
      return stay;
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
    case Phase::kPeerClosing:
      return ConnectionDeadline::kCloseGrace;
    case Phase::kCloseSent:
      return ConnectionDeadline::kCloseBackstop;
    case Phase::kHandshake:  // bounded by the WebSocket layer's handshake timeout
    case Phase::kDone:
      return ConnectionDeadline::kNone;
  }
  return ConnectionDeadline::kNone;
}

bool keeps_deadline(Phase from, Phase to) {
  return deadline_for(from) == ConnectionDeadline::kCloseGrace &&
         deadline_for(to) == ConnectionDeadline::kCloseGrace;
}

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case Phase::kHandshake:
      return "handshake";
    case Phase::kOpen:
      return "open";
    case Phase::kDraining:
      return "draining";
    case Phase::kPeerClosing:
      return "peer closing";
    case Phase::kCloseSent:
      return "close sent";
    case Phase::kDone:
      return "done";
  }
  return "?";
}

}  // namespace rwd::net
