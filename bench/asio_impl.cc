// Asio and Beast are compiled once, here, for the bench alone (the root CMake defines
// BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION for every target), so
// rewind-bench links none of the server's code.
// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
// clang-format on
