// SPDX-License-Identifier: MIT
// Two processes, one ring in a memfd mapped MAP_SHARED, both sleeping on futexes in the shared
// page when idle: the forked child is the back end, the parent the front end. Stamped payloads
// in both directions; a torn, lost, duplicated or reordered entry, a protocol error, or a lost
// wake-up (a wait that runs out) fails.

#include <doctest/doctest.h>

#include "stress_config.hpp"
#include "support.hpp"

#include <array>
#include <chrono>

namespace {

using namespace std::chrono_literals;
using xnv_test::stamped;
using xnv_test::stamped_request;
using xnv_test::stamped_response;

constexpr auto lost_wakeup_limit = 5s;
constexpr std::uint32_t ring_entries = 256;

// What the child reports, in the shared region after the ring.
struct child_report {
    std::uint64_t served;
    std::uint64_t bad;
    std::uint64_t notifications;
    std::uint32_t timeouts;
    std::uint32_t error;
};

template <class L, std::uint32_t Batch>
int back_end(std::span<std::byte> ring_mem, child_report* report, std::uint32_t start, std::uint64_t total)
{
    xnv::back_ring<stamped, stamped, L> back(ring_mem, start);
    xnv::wait::futex w;
    std::array<stamped, Batch> in{};
    std::uint64_t served = 0, bad = 0, notifications = 0;
    std::uint32_t timeouts = 0;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    xnv::ring_error error = xnv::ring_error::none;
    while (served < total) {
        xnv::ring_count c = back.wait_pending(w, lost_wakeup_limit);
        if (c.ok() && c.count == 0) {
            ++timeouts;
            if (std::chrono::steady_clock::now() > deadline)
                break;
            continue;
        }
        if (c.ok())
            c = back.consume(in);
        if (!c.ok()) {
            error = c.error;
            break;
        }
        for (std::uint32_t i = 0; i < c.count; ++i, ++served) {
            bad += in[i].seq != served || in[i].stamp != xnv_test::stamp_of(served);
            bad += !back.try_produce(stamped_response(in[i].seq));
        }
        if (back.push()) {
            back.wake_peer(w);
            ++notifications;
        }
    }
    // The parent reads these only after waitpid(): process exit orders them.
    report->served = served;
    report->bad = bad;
    report->notifications = notifications;
    report->timeouts = timeouts;
    report->error = static_cast<std::uint32_t>(error);
    return 0;
}

template <class L, std::uint32_t Batch> void two_process_round_trips(std::uint32_t start, std::uint64_t total)
{
    constexpr std::size_t ring_bytes = xnv::ring_bytes_for<stamped, stamped, L>(ring_entries);
    constexpr std::size_t report_offset = (ring_bytes + 4095) / 4096 * 4096;
    xnv_test::shared_region shm(report_offset + 4096);
    const std::span<std::byte> ring_mem = shm.span(0, ring_bytes);
    auto* report = reinterpret_cast<child_report*>(shm.data() + report_offset);
    xnv::front_ring<stamped, stamped, L> front(xnv::ring_init, ring_mem, start);

    xnv_test::child_process child([&] { return back_end<L, Batch>(ring_mem, report, start, total); });

    xnv::wait::futex w;
    std::array<stamped, Batch> buf{};
    std::uint64_t sent = 0, answered = 0, bad = 0, notifications = 0;
    std::uint32_t timeouts = 0;
    xnv::ring_error error = xnv::ring_error::none;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (answered < total) {
        if (sent < total && !front.full()) {
            const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(Batch, total - sent));
            for (std::uint32_t i = 0; i < n; ++i)
                buf[i] = stamped_request(sent + i);
            sent += front.produce(std::span<const stamped>(buf).first(n));
            if (front.push()) {
                front.wake_peer(w);
                ++notifications;
            }
        }
        xnv::ring_count c = front.consume(buf);
        if (c.ok() && c.count == 0 && (sent == total || front.full())) {
            c = front.wait_pending(w, lost_wakeup_limit);
            if (c.ok() && c.count == 0) {
                ++timeouts;
                if (std::chrono::steady_clock::now() > deadline)
                    break;
                continue;
            }
            if (c.ok())
                c = front.consume(buf);
        }
        if (!c.ok()) {
            error = c.error;
            break;
        }
        for (std::uint32_t i = 0; i < c.count; ++i, ++answered)
            bad += buf[i].seq != answered || buf[i].stamp != ~xnv_test::stamp_of(answered);
    }
    const int status = child.join(90s);

    CHECK(status == 0);
    CHECK(error == xnv::ring_error::none);
    CHECK(bad == 0);
    CHECK(answered == total);
    CHECK(timeouts == 0);
    CHECK(report->error == 0);
    CHECK(report->bad == 0);
    CHECK(report->served == total);
    CHECK(report->timeouts == 0);
    MESSAGE("round trips " << total << ", notifications front " << notifications << " back " << report->notifications);
}

TEST_CASE_TEMPLATE("two processes exchange stamped entries over a memfd with futex waits", L, xnv::layout::xen_abi,
                   xnv::layout::padded)
{
    const std::uint64_t total = xnv_test::scaled(300'000, 15);
    SUBCASE("one entry per publication")
    {
        two_process_round_trips<L, 1>(0, total / 4);
    }
    SUBCASE("batches of 32, across the 2^32 wrap")
    {
        two_process_round_trips<L, 32>(0xFFFFFFFFu - static_cast<std::uint32_t>(total / 2), total);
    }
}

} // namespace
