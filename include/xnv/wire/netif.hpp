// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The Xen netif wire format (`public/io/netif.h`): TX/RX requests and responses, extra-info
/// segments, flags, status codes and the xenstore feature key names. Layouts are asserted here
/// and checked against Xen's own header in tests/wire.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <xnv/ring/layout.hpp>

namespace xnv::netif {

using grant_ref = std::uint32_t;

/// Guest-to-backend packet slot. A packet is one or more slots chained by `flags::more_data`;
/// the first slot's `size` is the whole packet's length, later slots' `size` their own.
struct tx_request {
    grant_ref gref;
    std::uint16_t offset;
    std::uint16_t flags;
    std::uint16_t id;
    std::uint16_t size;
};

struct tx_response {
    std::uint16_t id;
    std::int16_t status;
};

/// A buffer the guest posts for the backend to fill.
struct rx_request {
    std::uint16_t id;
    std::uint16_t pad;
    grant_ref gref;
};

/// A filled receive buffer; `status` is the byte count when positive, an error when negative.
struct rx_response {
    std::uint16_t id;
    std::uint16_t offset;
    std::uint16_t flags;
    std::int16_t status;
};

/// Extra information occupying a slot of its own after a request with `extra_info` set.
struct extra_info {
    std::uint8_t type;
    std::uint8_t flags;
    union {
        struct {
            std::uint16_t size; // the MSS
            std::uint8_t type;  // gso_type
            std::uint8_t pad;
            std::uint16_t features;
        } gso;
        struct {
            std::uint8_t addr[6];
        } mcast;
        struct {
            std::uint8_t type;
            std::uint8_t algorithm;
            std::uint8_t value[4];
        } hash;
        std::uint16_t pad[3];
    } u;
};

namespace txf {
inline constexpr std::uint16_t csum_blank = 1u << 0;
inline constexpr std::uint16_t data_validated = 1u << 1;
inline constexpr std::uint16_t more_data = 1u << 2;
inline constexpr std::uint16_t extra_info = 1u << 3;
} // namespace txf

namespace rxf {
inline constexpr std::uint16_t data_validated = 1u << 0;
inline constexpr std::uint16_t csum_blank = 1u << 1;
inline constexpr std::uint16_t more_data = 1u << 2;
inline constexpr std::uint16_t extra_info = 1u << 3;
inline constexpr std::uint16_t gso_prefix = 1u << 4;
} // namespace rxf

namespace extra_type {
inline constexpr std::uint8_t none = 0;
inline constexpr std::uint8_t gso = 1;
inline constexpr std::uint8_t mcast_add = 2;
inline constexpr std::uint8_t mcast_del = 3;
inline constexpr std::uint8_t hash = 4;
inline constexpr std::uint8_t max = 5;
} // namespace extra_type

inline constexpr std::uint8_t extra_flag_more = 1u << 0;

namespace gso_type {
inline constexpr std::uint8_t none = 0;
inline constexpr std::uint8_t tcpv4 = 1;
inline constexpr std::uint8_t tcpv6 = 2;
} // namespace gso_type

namespace status {
inline constexpr std::int16_t dropped = -2;
inline constexpr std::int16_t error = -1;
inline constexpr std::int16_t okay = 0;
inline constexpr std::int16_t null = 1;
} // namespace status

/// Slots a packet may use: Xen's `XEN_NETIF_NR_SLOTS_MIN`, the count every backend must accept.
inline constexpr unsigned nr_slots_min = 18;
/// Largest packet a TX request chain can describe (`size` is 16-bit).
inline constexpr std::uint32_t max_tx_size = 0xFFFF;
/// Page size the slot offsets and sizes are relative to.
inline constexpr std::uint32_t page_size = 4096;

/// The xenstore key names, used verbatim in xnv's control channel.
namespace feature {
inline constexpr std::string_view sg = "feature-sg";
inline constexpr std::string_view gso_tcpv4 = "feature-gso-tcpv4";
inline constexpr std::string_view gso_tcpv6 = "feature-gso-tcpv6";
inline constexpr std::string_view rx_copy = "feature-rx-copy";
inline constexpr std::string_view split_event_channels = "feature-split-event-channels";
inline constexpr std::string_view multi_queue_max_queues = "multi-queue-max-queues";
inline constexpr std::string_view multi_queue_num_queues = "multi-queue-num-queues";
} // namespace feature

static_assert(sizeof(tx_request) == 12 && offsetof(tx_request, gref) == 0 && offsetof(tx_request, offset) == 4 &&
                  offsetof(tx_request, flags) == 6 && offsetof(tx_request, id) == 8 && offsetof(tx_request, size) == 10,
              "tx_request must match Xen's struct netif_tx_request");
static_assert(sizeof(tx_response) == 4 && offsetof(tx_response, status) == 2,
              "tx_response must match Xen's struct netif_tx_response");
static_assert(sizeof(rx_request) == 8 && offsetof(rx_request, gref) == 4,
              "rx_request must match Xen's struct netif_rx_request");
static_assert(sizeof(rx_response) == 8 && offsetof(rx_response, offset) == 2 && offsetof(rx_response, flags) == 4 &&
                  offsetof(rx_response, status) == 6,
              "rx_response must match Xen's struct netif_rx_response");
static_assert(sizeof(extra_info) == 8 && offsetof(extra_info, u) == 2,
              "extra_info must match Xen's struct netif_extra_info");
static_assert(sizeof(extra_info) <= sizeof(tx_request), "an extra-info segment occupies a TX request slot");

static_assert(ring_entry<tx_request> && ring_entry<tx_response> && ring_entry<rx_request> &&
              ring_entry<rx_response> && ring_entry<extra_info>);
static_assert(ring_entries_for<tx_request, tx_response>(page_size) == 256, "one 4 KiB page holds 256 TX slots");
static_assert(ring_entries_for<rx_request, rx_response>(page_size) == 256, "one 4 KiB page holds 256 RX slots");

} // namespace xnv::netif
