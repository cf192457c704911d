#include "broker/hiredis_asio.h"

#include <hiredis/async.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <memory>

namespace rwd::broker {

namespace asio = boost::asio;

namespace {

// The state every wait handler checks before touching the context: the context may be
// freed inside redisAsyncHandleRead/Write (a disconnect runs the callbacks, then the free),
// after which `dead_` is set and `ac_` must not be used. Handlers hold the adapter by
// shared_ptr, so it outlives the context for as long as a wait is pending.
class Adapter : public std::enable_shared_from_this<Adapter> {
 public:
  Adapter(redisAsyncContext* ac, asio::io_context& io) : ac_(ac), socket_(io) {}

  bool attach() {
    boost::system::error_code ec;
    socket_.assign(ac_->c.fd, ec);
    if (ec) return false;
    self_ = shared_from_this();
    ac_->ev.data = this;
    ac_->ev.addRead = [](void* p) { static_cast<Adapter*>(p)->want(kRead, true); };
    ac_->ev.delRead = [](void* p) { static_cast<Adapter*>(p)->want(kRead, false); };
    ac_->ev.addWrite = [](void* p) { static_cast<Adapter*>(p)->want(kWrite, true); };
    ac_->ev.delWrite = [](void* p) { static_cast<Adapter*>(p)->want(kWrite, false); };
    ac_->ev.cleanup = [](void* p) { static_cast<Adapter*>(p)->cleanup(); };
    return true;
  }

 private:
  enum Direction { kRead = 0, kWrite = 1 };

  // The hooks must be idempotent: one wait per direction at most, whatever hiredis asks.
  void want(Direction d, bool wanted) {
    wanted_[d] = wanted;
    if (wanted) arm(d);
  }

  void arm(Direction d) {
    if (dead_ || pending_[d] || !wanted_[d]) return;
    pending_[d] = true;
    auto type = d == kRead ? asio::posix::descriptor_base::wait_read
                           : asio::posix::descriptor_base::wait_write;
    socket_.async_wait(type, [self = shared_from_this(), d](const boost::system::error_code& ec) {
      self->pending_[d] = false;
      if (self->dead_ || ec == asio::error::operation_aborted || !self->wanted_[d]) return;
      // Any other error goes to hiredis too: its read or write then fails and it disconnects.
      if (d == kRead)
        redisAsyncHandleRead(self->ac_);
      else
        redisAsyncHandleWrite(self->ac_);
      self->arm(d);  // no-op when the context was freed meanwhile (dead_)
    });
  }

  // hiredis frees the context right after this and closes the socket itself: release() it
  // rather than close it twice.
  void cleanup() {
    dead_ = true;
    ac_ = nullptr;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    socket_.release();
    auto keep_until_return = std::move(self_);
  }

  redisAsyncContext* ac_;
  asio::posix::stream_descriptor socket_;
  std::shared_ptr<Adapter> self_;  // the context owns the adapter until cleanup
  bool wanted_[2] = {false, false};
  bool pending_[2] = {false, false};
  bool dead_ = false;
};

}  // namespace

bool attach_to_asio(redisAsyncContext* ac, asio::io_context& io) {
  auto adapter = std::make_shared<Adapter>(ac, io);
  return adapter->attach();
}

}  // namespace rwd::broker
