// Compiles Beast once for the whole program (BOOST_BEAST_SEPARATE_COMPILATION is set for every
// target), which keeps the other translation units quick to build on two cores. Asio itself
// is compiled in src/asio/asio_impl.cc (library rewind_asio), which the broker uses too.
#include <boost/beast/src.hpp>
