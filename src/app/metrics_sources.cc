#include "app/metrics_sources.h"

#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

#include "protocol/error_table.h"
#include "protocol/request_types.h"

#ifndef REWIND_BUILD_VERSION
#define REWIND_BUILD_VERSION "unknown"
#endif

namespace rwd::app {

namespace {

// The label values of the closed sets: the protocol's names, never anything a client sent.
metrics::LabelNames label_names() {
  metrics::LabelNames names;
  for (const protocol::RequestType& t : protocol::request_types()) {
    std::string name(t.name);
    if (!t.kind.empty()) name += "_" + std::string(t.kind);
    names.request_types.push_back(std::move(name));
  }
  names.error_codes.resize(metrics::kErrcSlots - 1);
  for (const protocol::ErrorInfo& e : protocol::all_errors())
    names.error_codes[metrics::errc_slot(e.code)] = e.http_code;
  return names;
}

// What the cluster bus and its chat sequencer count (cluster_event_bus.h, chat_sequencer.h).
// Every series is one number of this node: no label, so nothing a client sends can add one.
void add_cluster_bus_series(metrics::Exposition& exposition,
                            const cluster::ClusterEventBus& cluster) {
  using BusCount = uint64_t cluster::ClusterEventBus::Counters::*;
  const std::pair<const char*, BusCount> bus[] = {
      {"published", &cluster::ClusterEventBus::Counters::published},
      {"received", &cluster::ClusterEventBus::Counters::received},
      {"own_echoes", &cluster::ClusterEventBus::Counters::own_echoes},
      {"unwatched", &cluster::ClusterEventBus::Counters::unwatched},
      {"delivered", &cluster::ClusterEventBus::Counters::delivered},
      {"remote_changes", &cluster::ClusterEventBus::Counters::remote_changes},
      {"reloads", &cluster::ClusterEventBus::Counters::reloads},
      {"directory_gaps", &cluster::ClusterEventBus::Counters::directory_gaps},
      {"resyncs_announced", &cluster::ClusterEventBus::Counters::resyncs_announced},
      {"resyncs_received", &cluster::ClusterEventBus::Counters::resyncs_received},
  };
  const char* bus_help[] = {
      "Cluster messages this node handed to the broker.",
      "Cluster messages received from the broker.",
      "Received cluster messages this node had published itself (ignored).",
      "Received chat messages for a user with no session here any more (ignored).",
      "Events of other nodes given to this node's subscribers.",
      "Directory changes of other nodes applied here.",
      "Directory reloads from the store done (at each link up and after a directory gap).",
      "Directory changes of another node found missing (each starts a reload).",
      "Notices this node published that some of its publishes never reached the broker.",
      "Such notices of other nodes received (each starts a reload and a sweep).",
  };
  for (size_t i = 0; i < std::size(bus); ++i) {
    BusCount field = bus[i].second;
    exposition.add_counter(std::string("cluster_") + bus[i].first + "_total", bus_help[i],
                           [&cluster, field] { return double(cluster.counters().*field); });
  }

  using SeqCount = uint64_t cluster::ChatSequencer::Counters::*;
  const std::pair<const char*, SeqCount> sequencer[] = {
      {"delivered", &cluster::ChatSequencer::Counters::delivered},
      {"duplicates", &cluster::ChatSequencer::Counters::duplicates},
      {"held", &cluster::ChatSequencer::Counters::held},
      {"held_dropped", &cluster::ChatSequencer::Counters::held_dropped},
      {"unsequenced", &cluster::ChatSequencer::Counters::unsequenced},
      {"fills", &cluster::ChatSequencer::Counters::fills},
      {"filled", &cluster::ChatSequencer::Counters::filled},
      {"sweeps", &cluster::ChatSequencer::Counters::sweeps},
      {"fill_failures", &cluster::ChatSequencer::Counters::read_failures},
      {"early", &cluster::ChatSequencer::Counters::early},
  };
  const char* sequencer_help[] = {
      "Chat events of other nodes delivered in order.",
      "Chat events dropped as already delivered.",
      "Chat events that waited for a predecessor (a gap in a chat's order).",
      "Held chat events dropped over the per-chat bound (the gap is filled from the store).",
      "Chat events of a chat not followed here, delivered as they came.",
      "Gaps in a chat's order filled from the store.",
      "Chat events delivered from the store to fill gaps.",
      "Sweeps comparing the followed chats' positions with the store.",
      "Store reads to fill a gap or sweep that failed (retried).",
      "Chat events committed between a follow and its position read.",
  };
  for (size_t i = 0; i < std::size(sequencer); ++i) {
    SeqCount field = sequencer[i].second;
    exposition.add_counter(
        std::string("cluster_sequencer_") + sequencer[i].first + "_total", sequencer_help[i],
        [&cluster, field] { return double(cluster.sequencer_counters().*field); });
  }
  exposition.add_gauge("cluster_sequencer_streams", "Chats whose order this node follows now.",
                       [&cluster] { return double(cluster.sequencer_counters().streams); });
}

// What the limits shared between nodes count (cluster_limits.h).
void add_cluster_limits_series(metrics::Exposition& exposition,
                               const broker::ClusterLimits& limits) {
  using LimitCount = uint64_t broker::ClusterLimits::Counters::*;
  const std::pair<const char*, LimitCount> counts[] = {
      {"batches_sent", &broker::ClusterLimits::Counters::sent},
      {"batches_received", &broker::ClusterLimits::Counters::received},
      {"malformed", &broker::ClusterLimits::Counters::malformed},
      {"syncs_skipped", &broker::ClusterLimits::Counters::syncs_skipped},
      {"nodes_expired", &broker::ClusterLimits::Counters::nodes_expired},
  };
  const char* help[] = {
      "Batches of this node's limit counts published to the other nodes.",
      "Batches of limit counts of other nodes applied here.",
      "Limit messages or lines that could not be read (dropped).",
      "Limit sync intervals spent with the broker down (each node enforced its limits alone).",
      "Other nodes forgotten after a silence (their session and connection counts expire).",
  };
  for (size_t i = 0; i < std::size(counts); ++i) {
    LimitCount field = counts[i].second;
    exposition.add_counter(std::string("cluster_limits_") + counts[i].first + "_total", help[i],
                           [&limits, field] { return double(limits.counters().*field); });
  }
  exposition.add_gauge("cluster_limits_peers",
                       "Other nodes whose limit counts this node holds now.",
                       [&limits] { return double(limits.counters().peers); });
}

}  // namespace

std::unique_ptr<metrics::Exposition> make_exposition(const store::Store& store,
                                                     const broker::Broker* broker,
                                                     const cluster::ClusterEventBus* cluster,
                                                     const broker::ClusterLimits* limits) {
  auto exposition = std::make_unique<metrics::Exposition>(metrics::counters(), label_names(),
                                                          REWIND_BUILD_VERSION);
  exposition->add_counter("storage_write_failures_total",
                          "Writes the store could not make (disk full or failing, database away).",
                          [&store] { return double(store.write_failures()); });
  exposition->add_counter("storage_read_failures_total", "Reads the store could not answer.",
                          [&store] { return double(store.read_failures()); });
  exposition->add_gauge("storage_up", "1 while the store accepts writes, else 0.",
                        [&store] { return store.can_write() ? 1.0 : 0.0; });
  if (broker) {
    exposition->add_counter("broker_link_failures_total",
                            "Times the link to the broker (Redis) failed.",
                            [broker] { return double(broker->counters().link_failures); });
    exposition->add_counter("broker_dropped_total",
                            "Messages for the other nodes dropped while the broker was away.",
                            [broker] { return double(broker->counters().dropped); });
    exposition->add_counter("broker_reconnects_total", "Reconnections to the broker.",
                            [broker] { return double(broker->counters().reconnects); });
    exposition->add_gauge("broker_up", "1 while connected to the broker, else 0.",
                          [broker] { return broker->up() ? 1.0 : 0.0; });
    exposition->add_counter("broker_published_total", "Messages handed to the broker's link.",
                            [broker] { return double(broker->counters().published); });
    exposition->add_counter("broker_received_total", "Messages received from the broker.",
                            [broker] { return double(broker->counters().received); });
  }
  if (cluster) {
    exposition->add_counter("cluster_decode_failures_total",
                            "Messages from other nodes that could not be decoded.",
                            [cluster] { return double(cluster->counters().decode_failures); });
    exposition->add_counter("cluster_reload_failures_total",
                            "Directory reloads from the store that failed (retried).",
                            [cluster] { return double(cluster->counters().reload_failures); });
    add_cluster_bus_series(*exposition, *cluster);
    exposition->add_counter(
        "cluster_auth_subscribe_timeouts_total",
        "Auth answers sent before the broker confirmed the user's channels (past the bound).",
        [cluster] { return double(cluster->counters().receive_wait_timeouts); });
  }
  if (limits) add_cluster_limits_series(*exposition, *limits);
  return exposition;
}

}  // namespace rwd::app
