#pragma once

// The life of one WebSocket connection as a state machine, apart from sockets so that it can
// be tested as a table. WsConnection keeps one Phase, feeds every event through next_step()
// and arms the deadline that deadline_for() names for the phase it enters.

#include <string_view>

namespace rwd::net {

enum class ConnectionPhase {
  kHandshake,    // the upgrade is being answered; nothing is read or written yet
  kOpen,         // frames flow both ways; the deadline is the session's (heartbeat, auth)
  kDraining,     // a close was asked for while a frame was being written: nothing more is
                 // queued, what is queued goes out, then the close frame; within the close grace
  kPeerClosing,  // the peer's close frame came while a frame was being written: the WebSocket
                 // layer answers it once that frame is out; nothing more is queued or
                 // written; within the close grace
  kCloseSent,    // the close frame is on its way (ours, or the WebSocket layer's answer to the
                 // peer's), then the lingering close. The WebSocket layer times ours and the
                 // linger has bounds; a backstop deadline cuts an answer never written
  kDone,         // the socket is closed and the session told
};

enum class ConnectionEvent {
  kAccepted,        // the WebSocket handshake completed
  kCloseRequested,  // by the session, the hub's slow-consumer cap, or shutdown
  kQueueDrained,    // the write queue became empty, no write in flight
  kPeerClosed,      // the peer's close frame was read (the WebSocket layer answers it)
  kDeadline,        // the deadline armed for the phase came
  kEnded,           // the handshake, a read or a write failed, or the close handshake finished
};

// What the connection does on a step, after it entered the step's phase.
enum class ConnectionAction {
  kNone,
  kStartReading,  // start the read loop and write what was queued during the handshake
  kCheckSession,  // let the session close on its timeouts; the deadline is armed again after
  kSendClose,     // send the close frame with the code of the first close request
  kCutSocket,     // close the socket under the write in flight: it fails and ends the connection
  kFinish,        // close the socket, tell the session, forget the connection
};

// The one deadline a connection has, by phase.
enum class ConnectionDeadline {
  kNone,
  kSession,     // Session::deadline_us(): heartbeat and auth timeouts
  kCloseGrace,  // now + the close grace period (--ws-close-grace)
  // now + the WebSocket close handshake timeout + the lingering close's longest: reached only
  // when the close frame's write never completes. Beast times the close handshakes it starts
  // (ours), but not the close frame it writes in answer to the peer's, which waits for a peer
  // that may never read again.
  kCloseBackstop,
};

struct ConnectionStep {
  ConnectionPhase next;
  ConnectionAction action;
  // Arm the phase's deadline again although the phase stays (it moved on: a heartbeat came).
  bool rearm = false;
};

// The facts besides the phase that decide a step. `writing`: a frame is being written.
// `close_requested`: a close was asked for (during the handshake it waits for kAccepted).
ConnectionStep next_step(ConnectionPhase phase, ConnectionEvent event, bool writing,
                         bool close_requested);

ConnectionDeadline deadline_for(ConnectionPhase phase);

// Whether a step from `from` to `to` keeps the deadline already armed rather than arming the
// new phase's: the close grace runs from the first close it bounds, so a peer's close frame
// read while draining does not restart it.
bool keeps_deadline(ConnectionPhase from, ConnectionPhase to);

// Whether frames may still be queued in this phase (a closing connection drops them).
inline bool accepts_frames(ConnectionPhase phase) {
  return phase == ConnectionPhase::kHandshake || phase == ConnectionPhase::kOpen;
}

std::string_view phase_name(ConnectionPhase phase);

}  // namespace rwd::net
