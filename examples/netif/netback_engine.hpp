// SPDX-License-Identifier: MIT
#pragma once

// The reference netback's data path: vifs (one per connected netfront) with their queues, a
// TX and an RX tasklet per queue on the scheduler's workers, placed by the balanced
// dispatcher; a learning L2 switch between vifs; a bounded RX backlog per queue. The program
// (netback_main.cpp) adds a vif once the control channel says connected and removes it on
// hang-up or when the data path reports a protocol violation. docs/netback.md describes the
// threads, the memory bound and every counter.

#include "control_session.hpp"
#include "l2switch.hpp"
#include "ref_format.hpp"
#include "ref_policy.hpp"
#include "ref_uplink.hpp"

#include <xnv/notify/backoff.hpp>
#include <xnv/notify/counters.hpp>
#include <xnv/sched/tasklet.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xnv::example {

struct netback_config {
    /// Worker threads (tasklet pairs run on them).
    std::uint32_t workers = 2;
    /// CPUs to pin the workers to (empty: not pinned), one per worker.
    std::vector<unsigned> cpus;
    dispatch_choice dispatch = dispatch_choice::hysteresis;
    coalesce_settings coalesce{};
    /// Per-queue RX backlog cap in bytes (frames waiting for the guest's buffers).
    std::size_t rx_queue_bytes = std::size_t{512} << 10;
    /// Frames older than this in an RX backlog are dropped (`rx_expired`).
    std::chrono::milliseconds rx_expire{1000};
    /// Most vifs connected at once (switch ports).
    std::uint32_t max_vifs = 64;
    /// MAC table: entries and ageing time.
    std::size_t mac_entries = 4096;
    std::chrono::seconds mac_ageing{300};
    /// Packets a tasklet handles per run (NAPI weight).
    std::uint32_t tasklet_budget = 64;
    /// Spurious-kick back-off of the event path (docs/netback.md, "Event path"): a frontend
    /// that kicks an event channel without publishing anything new has that channel's events
    /// ignored for a delay that doubles per further spurious kick up to `cap`; real work resets
    /// it. `initial` must be positive and at most `cap` (checked by the constructor).
    notify::backoff_config kick_backoff{};
    /// How long the event thread keeps polling its event channels (without sleeping) after the
    /// last event before it sleeps in epoll_wait: a bounded busy-poll, as Linux's busy_poll.
    /// Zero (the default): sleep at once. It takes a core while it polls.
    std::chrono::microseconds event_busy_poll{0};
    /// How long an idle worker polls its queues before it sleeps on its futex.
    std::chrono::microseconds worker_idle_spin{20};
};

/// Why netback dropped a frame (each is a counter per queue).
enum class nb_drop : std::uint8_t {
    tx_malformed,      ///< the parser's drop verdict (too many slots, bad sizes): answered with an error
    tx_no_destination, ///< unicast to a vif that left, or flooded with no other vif connected
    tx_hairpin,        ///< destination learned on the sending vif itself (a bridge does not reflect)
    rx_expired,        ///< waited longer than --rx-expire-ms for the guest's RX buffers
    rx_too_large,      ///< needs more RX slots than the destination accepts (no feature-sg)
};
inline constexpr std::size_t nb_drop_count = 5;
[[nodiscard]] std::string_view to_string(nb_drop d) noexcept;

/// Counters of one vif queue. "tx" is the guest's transmit direction (frames netback took off
/// the TX ring), "rx" the guest's receive direction (frames netback delivered into it).
struct nb_queue_stats {
    std::uint32_t worker = 0;
    std::uint64_t tx_packets = 0;
    std::uint64_t tx_bytes = 0;
    std::uint64_t rx_packets = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t kicks = 0;      ///< notifications received from the frontend
    /// Kicks that found nothing new published on the channel's ring(s) since the previous one.
    std::uint64_t spurious_kicks = 0;
    /// Times such a kick made netback ignore the channel for a while (the back-off engaged).
    std::uint64_t backoff_engaged = 0;
    std::uint64_t tx_blocked = 0; ///< times a TX frame waited for room in a full backlog (back-pressure)
    std::uint64_t mcast_requests = 0;
    std::uint64_t tx_gso = 0;     ///< frames the guest sent with a GSO extra-info segment
    std::uint64_t rx_gso = 0;     ///< frames delivered to the guest with a GSO extra-info segment
    std::uint64_t tx_multislot = 0; ///< frames the guest sent in more than one slot (feature-sg)
    notify::counters_snapshot tx_notify{}; ///< notifications sent for TX responses
    notify::counters_snapshot rx_notify{}; ///< notifications sent for RX responses
    std::array<std::uint64_t, nb_drop_count> drops{};
    std::uint64_t backlog_bytes = 0;
};

struct nb_vif_stats {
    std::uint32_t id = 0;
    std::string name;
    mac_bytes mac{};
    control::negotiated params{};
    double connected_s = 0; ///< seconds since it connected (at the snapshot or at removal)
    bool live = true;
    std::string close_reason;
    std::vector<nb_queue_stats> queues;

    [[nodiscard]] nb_queue_stats total() const;
};

struct nb_snapshot {
    double uptime_s = 0;
    std::vector<nb_vif_stats> vifs; ///< connected now, by id
    std::vector<worker_stats> workers;
    std::uint32_t active_workers = 0; ///< the dispatcher's current count
    std::uint64_t dispatcher_moves = 0;
    std::uint64_t vifs_connected = 0; ///< ever
    std::uint64_t vifs_removed = 0;
    switch_counters sw{};
    std::optional<uplink_stats> uplink; ///< when an uplink TAP is attached
};

/// Thread safety: every member is called from one control thread (the program's main loop);
/// the engine runs its own event thread and the scheduler's workers.
class netback_engine {
public:
    /// Starts the workers and the event thread.
    /// @throws std::invalid_argument on a bad configuration, std::system_error if a resource
    ///         (epoll, eventfd, threads) cannot be had
    explicit netback_engine(const netback_config& cfg);
    ~netback_engine();
    netback_engine(const netback_engine&) = delete;
    netback_engine& operator=(const netback_engine&) = delete;

    /// Attach a vif the control channel connected: map its rings and grant areas, create its
    /// queues and tasklets, plug it into the switch, the dispatcher and the event thread.
    /// @throws std::runtime_error when every switch port is taken (the caller refuses the
    ///         netfront), std::invalid_argument if the layout does not fit the region
    std::uint32_t add_vif(control::back_connection&& conn, std::string name);

    /// Attach an uplink TAP as one more switch port (port number `config().max_vifs`, beyond
    /// every vif's): frames read from it are switched to the vifs, frames from vifs to a MAC
    /// learned on it, and flooded ones, are written to it. Starts its reader thread; the engine
    /// owns it from here on and stops it before the vifs go.
    /// @pre no vif was added yet (their queues size their scratch space by it), none attached
    /// @throws std::logic_error when the precondition does not hold
    void attach_uplink(std::unique_ptr<uplink_tap> up);

    /// Tear a vif down: stop its tasklets, free its memory, forget its MACs. Other vifs carry
    /// on. Returns its final counters. Unknown ids return an empty record.
    nb_vif_stats remove_vif(std::uint32_t id, std::string reason);

    /// Vifs whose data path found a protocol violation since the last call (remove them).
    struct failure {
        std::uint32_t id = 0;
        std::string reason;
    };
    [[nodiscard]] std::vector<failure> take_failures();
    /// Readable (POLLIN) while failures are waiting to be taken.
    [[nodiscard]] int failure_fd() const noexcept;

    /// Call every few milliseconds: samples load for the dispatcher, lets RX backlogs expire
    /// frames whose guests post no buffers.
    void tick();
    /// How often `tick` wants to run.
    [[nodiscard]] static constexpr std::chrono::milliseconds tick_interval() noexcept
    {
        return std::chrono::milliseconds(10);
    }

    [[nodiscard]] nb_snapshot snapshot() const;
    [[nodiscard]] const netback_config& config() const noexcept;

    /// Ids of the connected vifs.
    [[nodiscard]] std::vector<std::uint32_t> vif_ids() const;

    struct impl;

private:
    std::unique_ptr<impl> p_;
};

} // namespace xnv::example
