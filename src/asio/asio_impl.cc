// Compiles Asio once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION is set for every
// target), which keeps the other translation units quick to build on two cores. Beast is
// compiled in src/net/asio_impl.cc, the only module that uses it.
// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
#include <boost/asio/impl/src.hpp>
// clang-format on
