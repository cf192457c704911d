#pragma once

#include <memory>

#include "broker/broker.h"
#include "broker/cluster_limits.h"
#include "cluster/cluster_event_bus.h"
#include "metrics/exposition.h"
#include "store/store.h"

namespace rwd::app {

// The exposition of this process (GET /metrics on the admin listener): the counters every
// module bumps (metrics/counters.h), labelled with the protocol's own names, and the values
// the store, the broker, the cluster bus (and its chat sequencer) and the shared limits
// already keep, read at each scrape. `broker`, `cluster` and `limits` may be null (one node);
// all of them outlive the exposition.
std::unique_ptr<metrics::Exposition> make_exposition(const store::Store& store,
                                                     const broker::Broker* broker,
                                                     const cluster::ClusterEventBus* cluster,
                                                     const broker::ClusterLimits* limits);

}  // namespace rwd::app
