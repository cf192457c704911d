#include "metrics/counters.h"

namespace rwd::metrics {

Counters& counters() {
  static Counters instance;
  return instance;
}

}  // namespace rwd::metrics
