// Compiles Asio and Beast once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are set for every target), which keeps the other
// translation units quick to build on two cores.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
