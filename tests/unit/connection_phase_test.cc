// The WebSocket connection's life as a table (net/connection_phase.h): every phase, every
// event, with and without a write in flight, and what the wire needs of each step.
#include "net/connection_phase.h"

#include <gtest/gtest.h>

#include <ostream>

namespace rwd::net {

std::ostream& operator<<(std::ostream& os, ConnectionPhase p) { return os << phase_name(p); }

namespace {

using Phase = ConnectionPhase;
using Event = ConnectionEvent;
using Action = ConnectionAction;
using Deadline = ConnectionDeadline;

constexpr Phase kPhases[] = {Phase::kHandshake,   Phase::kOpen,      Phase::kDraining,
                             Phase::kPeerClosing, Phase::kCloseSent, Phase::kDone};
constexpr Event kEvents[] = {Event::kAccepted,   Event::kCloseRequested, Event::kQueueDrained,
                             Event::kPeerClosed, Event::kDeadline,       Event::kEnded};

TEST(ConnectionPhaseTest, HandshakeOpensAndStartsReading) {
  ConnectionStep s = next_step(Phase::kHandshake, Event::kAccepted, false, false);
  EXPECT_EQ(s.next, Phase::kOpen);
  EXPECT_EQ(s.action, Action::kStartReading);
  EXPECT_EQ(deadline_for(Phase::kOpen), Deadline::kSession);
}

TEST(ConnectionPhaseTest, CloseAskedForDuringTheHandshakeWaitsForItThenSendsTheCloseFrame) {
  // Shutdown asks every connection to close, some still in their handshake: a close frame
  // needs an open stream, and nothing of the peer is read.
  ConnectionStep asked = next_step(Phase::kHandshake, Event::kCloseRequested, false, true);
  EXPECT_EQ(asked.next, Phase::kHandshake);
  EXPECT_EQ(asked.action, Action::kNone);
  ConnectionStep accepted = next_step(Phase::kHandshake, Event::kAccepted, false, true);
  EXPECT_EQ(accepted.next, Phase::kCloseSent);
  EXPECT_EQ(accepted.action, Action::kSendClose);
}

TEST(ConnectionPhaseTest, FailedHandshakeFinishes) {
  ConnectionStep s = next_step(Phase::kHandshake, Event::kEnded, false, false);
  EXPECT_EQ(s.next, Phase::kDone);
  EXPECT_EQ(s.action, Action::kFinish);
}

TEST(ConnectionPhaseTest, CloseOnAnIdleOpenConnectionSendsTheCloseFrameAtOnce) {
  ConnectionStep s = next_step(Phase::kOpen, Event::kCloseRequested, false, true);
  EXPECT_EQ(s.next, Phase::kCloseSent);
  EXPECT_EQ(s.action, Action::kSendClose);
  // The wait for the peer's close frame is the WebSocket layer's to bound (a backstop after).
  EXPECT_EQ(deadline_for(Phase::kCloseSent), Deadline::kCloseBackstop);
}

TEST(ConnectionPhaseTest, CloseDuringAWriteDrainsWithinTheGracePeriod) {
  ConnectionStep s = next_step(Phase::kOpen, Event::kCloseRequested, true, true);
  EXPECT_EQ(s.next, Phase::kDraining);
  EXPECT_EQ(s.action, Action::kNone);
  EXPECT_EQ(deadline_for(Phase::kDraining), Deadline::kCloseGrace);
  // A second request (the session, then the hub's cap) neither restarts nor ends the drain.
  ConnectionStep again = next_step(Phase::kDraining, Event::kCloseRequested, true, true);
  EXPECT_EQ(again.next, Phase::kDraining);
  EXPECT_EQ(again.action, Action::kNone);
  EXPECT_FALSE(again.rearm);
}

TEST(ConnectionPhaseTest, DrainedQueueSendsTheCloseFrame) {
  ConnectionStep s = next_step(Phase::kDraining, Event::kQueueDrained, false, true);
  EXPECT_EQ(s.next, Phase::kCloseSent);
  EXPECT_EQ(s.action, Action::kSendClose);
}

TEST(ConnectionPhaseTest, GraceRunningOutCutsTheSocketUnderTheFrameInFlight) {
  ConnectionStep s = next_step(Phase::kDraining, Event::kDeadline, true, true);
  EXPECT_EQ(s.next, Phase::kDraining);  // the failing write ends it
  EXPECT_EQ(s.action, Action::kCutSocket);
}

TEST(ConnectionPhaseTest, SessionDeadlineIsCheckedAndArmedAgainWhileOpen) {
  ConnectionStep s = next_step(Phase::kOpen, Event::kDeadline, false, false);
  EXPECT_EQ(s.next, Phase::kOpen);
  EXPECT_EQ(s.action, Action::kCheckSession);
  EXPECT_TRUE(s.rearm);
}

TEST(ConnectionPhaseTest, QueueDrainingWhileOpenChangesNothing) {
  ConnectionStep s = next_step(Phase::kOpen, Event::kQueueDrained, false, false);
  EXPECT_EQ(s.next, Phase::kOpen);
  EXPECT_EQ(s.action, Action::kNone);
}

TEST(ConnectionPhaseTest, PeerCloseOnAnIdleConnectionIsAnsweredAtOnce) {
  // Beast answers with our close frame itself; the session's deadlines end with the session.
  ConnectionStep s = next_step(Phase::kOpen, Event::kPeerClosed, false, false);
  EXPECT_EQ(s.next, Phase::kCloseSent);
  EXPECT_EQ(s.action, Action::kNone);
}

TEST(ConnectionPhaseTest, PeerCloseDuringAWriteWaitsForItWithinTheGracePeriod) {
  // Beast answers once the frame in flight is out. A peer that stopped reading never takes it:
  // without a deadline the connection would stay for good.
  ConnectionStep s = next_step(Phase::kOpen, Event::kPeerClosed, true, false);
  EXPECT_EQ(s.next, Phase::kPeerClosing);
  EXPECT_EQ(s.action, Action::kNone);
  EXPECT_EQ(deadline_for(Phase::kPeerClosing), Deadline::kCloseGrace);
  ConnectionStep cut = next_step(Phase::kPeerClosing, Event::kDeadline, true, false);
  EXPECT_EQ(cut.next, Phase::kPeerClosing);  // the failing write ends it
  EXPECT_EQ(cut.action, Action::kCutSocket);
  ConnectionStep out = next_step(Phase::kPeerClosing, Event::kQueueDrained, false, false);
  EXPECT_EQ(out.next, Phase::kCloseSent);
  EXPECT_EQ(out.action, Action::kNone);  // Beast's answer is the close frame
}

TEST(ConnectionPhaseTest, PeerCloseWhileDrainingIsAnsweredInsteadOfOurs) {
  ConnectionStep s = next_step(Phase::kDraining, Event::kPeerClosed, true, true);
  EXPECT_EQ(s.next, Phase::kPeerClosing);
  ConnectionStep out = next_step(Phase::kPeerClosing, Event::kQueueDrained, false, true);
  EXPECT_EQ(out.action, Action::kNone);
}

TEST(ConnectionPhaseTest, CloseRequestedAfterThePeerClosedSendsNothing) {
  for (bool writing : {false, true}) {
    ConnectionStep s = next_step(Phase::kPeerClosing, Event::kCloseRequested, writing, true);
    EXPECT_EQ(s.next, Phase::kPeerClosing);
    EXPECT_EQ(s.action, Action::kNone);
  }
}

TEST(ConnectionPhaseTest, EveryLivePhaseFinishesWhenTheConnectionEnds) {
  for (Phase p : {Phase::kHandshake, Phase::kOpen, Phase::kDraining, Phase::kPeerClosing,
                  Phase::kCloseSent}) {
    for (bool writing : {false, true}) {
      ConnectionStep s = next_step(p, Event::kEnded, writing, true);
      EXPECT_EQ(s.next, Phase::kDone) << p;
      EXPECT_EQ(s.action, Action::kFinish) << p;
    }
  }
}

TEST(ConnectionPhaseTest, NothingHappensOnceDone) {
  // finish() runs once, however many failures and completions arrive after it.
  for (Event e : kEvents) {
    for (bool writing : {false, true}) {
      ConnectionStep s = next_step(Phase::kDone, e, writing, true);
      EXPECT_EQ(s.next, Phase::kDone);
      EXPECT_EQ(s.action, Action::kNone);
      EXPECT_FALSE(s.rearm);
    }
  }
  EXPECT_EQ(deadline_for(Phase::kDone), Deadline::kNone);
}

TEST(ConnectionPhaseTest, CloseSentWaitsForTheEndOrItsBackstop) {
  for (Event e :
       {Event::kAccepted, Event::kCloseRequested, Event::kQueueDrained, Event::kPeerClosed}) {
    ConnectionStep s = next_step(Phase::kCloseSent, e, false, true);
    EXPECT_EQ(s.next, Phase::kCloseSent);
    EXPECT_EQ(s.action, Action::kNone);
  }
  // Beast bounds the close handshakes it starts, not its answer to the peer's close frame,
  // whose write waits for a peer that may never read: the backstop cuts it.
  EXPECT_EQ(deadline_for(Phase::kCloseSent), Deadline::kCloseBackstop);
  ConnectionStep cut = next_step(Phase::kCloseSent, Event::kDeadline, true, false);
  EXPECT_EQ(cut.next, Phase::kCloseSent);
  EXPECT_EQ(cut.action, Action::kCutSocket);
}

TEST(ConnectionPhaseTest, OnlyTheCloseGraceCarriesOverToTheNextPhase) {
  // A peer's close frame read while draining: the grace still runs from the first close.
  EXPECT_TRUE(keeps_deadline(Phase::kDraining, Phase::kPeerClosing));
  auto grace = [](Phase p) { return p == Phase::kDraining || p == Phase::kPeerClosing; };
  for (Phase from : kPhases) {
    for (Phase to : kPhases) {
      if (from != to && !(grace(from) && grace(to))) {
        EXPECT_FALSE(keeps_deadline(from, to)) << from << " -> " << to;
      }
    }
  }
}

TEST(ConnectionPhaseTest, OnlyHandshakeAndOpenTakeFrames) {
  for (Phase p : kPhases)
    EXPECT_EQ(accepts_frames(p), p == Phase::kHandshake || p == Phase::kOpen) << p;
}

TEST(ConnectionPhaseTest, CloseFrameIsSentAtMostOnceOnAnyPath) {
  // Walk every sequence of four events from the handshake: kSendClose appears at most once,
  // kFinish at most once, never a step back to an earlier phase, and never kSendClose after
  // the peer's close frame (Beast answers that one).
  auto rank = [](Phase p) { return static_cast<int>(p); };
  for (Event e1 : kEvents)
    for (Event e2 : kEvents)
      for (Event e3 : kEvents)
        for (Event e4 : kEvents)
          for (bool writing : {false, true}) {
            Phase p = Phase::kHandshake;
            bool close_requested = false;
            int closes = 0, finishes = 0;
            bool peer_closed = false;
            for (Event e : {e1, e2, e3, e4}) {
              if (e == Event::kCloseRequested) close_requested = true;
              // Beast reads frames only once the handshake is done, and one close frame.
              if (e == Event::kPeerClosed && (p == Phase::kHandshake || peer_closed)) continue;
              // Nothing is written before the handshake completes.
              ConnectionStep s =
                  next_step(p, e, writing && p != Phase::kHandshake, close_requested);
              EXPECT_GE(rank(s.next), rank(p));
              if (peer_closed && p != Phase::kDone) {
                EXPECT_NE(s.action, Action::kSendClose);
              }
              peer_closed = peer_closed || e == Event::kPeerClosed;
              closes += s.action == Action::kSendClose;
              finishes += s.action == Action::kFinish;
              p = s.next;
            }
            EXPECT_LE(closes, 1);
            EXPECT_LE(finishes, 1);
          }
}

}  // namespace
}  // namespace rwd::net
