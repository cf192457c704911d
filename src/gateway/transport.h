#pragma once

#include <functional>
#include <memory>
#include <string>

#include "protocol/error_table.h"

namespace rwd::gateway {

// A frame encoded once and shared by every connection it goes to.
using Frame = std::shared_ptr<const std::string>;

// One client connection as the gateway sees it; the network layer implements it.
class Transport {
 public:
  virtual ~Transport() = default;
  // Queues a text frame. Any thread. Frames from one thread go out in the order queued, and
  // frames sent from the connection's own serial context go out ahead of frames other threads
  // queued but the connection has not taken yet (a session's answer is never held behind
  // events). A connection whose queue passes its byte cap is closed as a slow consumer and
  // later frames are dropped.
  virtual void send(Frame frame) = 0;
  // Starts the close handshake with `code`. Any thread; later sends are dropped. From the
  // connection's own serial context it starts at once: no later message of the peer is read.
  virtual void close(protocol::CloseCode code) = 0;
  // Runs fn on the connection's serial context (its event loop). Any thread; dropped when the
  // connection is gone.
  virtual void post(std::function<void()> fn) = 0;
};

}  // namespace rwd::gateway
