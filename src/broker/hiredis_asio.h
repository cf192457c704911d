#pragma once

// hiredis 0.14 ships adapters for libev, libevent, libuv... but none for Asio: this is ours.
// Only the .cc includes hiredis and Asio.

struct redisAsyncContext;

namespace boost::asio {
class io_context;
}

namespace rwd::broker {

// Drives `ac` from `io`: its socket is watched with stream_descriptor::async_wait, and
// hiredis's five event hooks (addRead, delRead, addWrite, delWrite, cleanup) arm and disarm
// the waits. Call it right after redisAsyncConnect succeeded, before any other call on `ac`,
// and only on the one thread that runs `io` and every other call on `ac` (hiredis is not
// thread-safe). The adapter belongs to the context: hiredis's cleanup hook, which runs when
// the context is freed (by redisAsyncFree, or by hiredis itself after an error, possibly
// inside redisAsyncHandleRead), detaches it and hands the socket back to hiredis, which
// closes it. Returns false when the socket cannot be watched; the caller then frees `ac`.
bool attach_to_asio(redisAsyncContext* ac, boost::asio::io_context& io);

}  // namespace rwd::broker
