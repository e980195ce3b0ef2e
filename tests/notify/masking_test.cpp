// SPDX-License-Identifier: MIT
// Masking and the pending bit of `masked_channel`, as Xen's event channels behave.

#include <xnv/notify/counting_fake.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/notify/inprocess_channel.hpp>
#include <xnv/notify/masked_channel.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <poll.h>

using namespace std::chrono_literals;
using namespace xnv::notify;

namespace {

struct fake_port {
    xnv::virtual_clock clock;
    counting_fake<xnv::clock_ref<xnv::virtual_clock>> inner{xnv::clock_ref(clock)};
    event_port_state port{};
    masked_channel<counting_fake<xnv::clock_ref<xnv::virtual_clock>>> ch{port, inner};
};

bool readable(int fd)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
}

} // namespace

TEST_CASE("masked: a notification is remembered, not delivered")
{
    fake_port f;
    f.ch.mask();
    CHECK(f.ch.masked());
    CHECK_FALSE(f.ch.notify());
    CHECK(f.inner.count() == 0);
    CHECK(f.ch.pending());
    CHECK(f.ch.try_consume() == 0);
    CHECK(f.ch.wait_for(1ms) == 0);
    CHECK(f.ch.pending()); // still remembered
}

TEST_CASE("unmask delivers the one remembered event, however many came")
{
    fake_port f;
    f.ch.mask();
    for (int i = 0; i < 5; ++i)
        CHECK_FALSE(f.ch.notify());
    CHECK(f.ch.unmask());
    CHECK(f.inner.count() == 1);
    CHECK(f.ch.try_consume() == 1);
    CHECK_FALSE(f.ch.pending());
    CHECK(f.ch.try_consume() == 0);
}

TEST_CASE("unmask with nothing pending delivers nothing")
{
    fake_port f;
    f.ch.mask();
    CHECK_FALSE(f.ch.unmask());
    CHECK(f.inner.count() == 0);
    CHECK_FALSE(f.ch.unmask()); // unmasking an unmasked channel is harmless
}

TEST_CASE("a pending event absorbs further notifications until consumed")
{
    fake_port f;
    CHECK(f.ch.notify());
    CHECK_FALSE(f.ch.notify());
    CHECK_FALSE(f.ch.notify());
    CHECK(f.inner.count() == 1); // one delivery to the inner channel
    CHECK(f.ch.try_consume() == 1);
    CHECK(f.ch.notify()); // consumed: the next one is delivered again
    CHECK(f.inner.count() == 2);
}

TEST_CASE("masked eventfd: the descriptor stays quiet while masked and wakes on unmask")
{
    eventfd_channel efd;
    event_port_state port{};
    masked_channel<eventfd_channel> ch(port, efd);
    CHECK(ch.fd() == efd.fd());
    ch.mask();
    ch.notify();
    CHECK_FALSE(readable(ch.fd()));
    CHECK(ch.unmask());
    CHECK(readable(ch.fd()));
    CHECK(ch.try_consume() == 1);
    CHECK_FALSE(readable(ch.fd()));
}

TEST_CASE("unmask from another thread wakes a receiver blocked on a masked channel")
{
    inprocess_channel inner;
    event_port_state port{};
    masked_channel<inprocess_channel> ch(port, inner);
    ch.mask();
    ch.notify(); // remembered
    std::atomic<bool> started{false};
    std::uint64_t got = 0;
    std::thread receiver([&] {
        started.store(true);
        got = ch.wait_for(no_deadline);
    });
    while (!started.load())
        std::this_thread::yield();
    std::this_thread::sleep_for(1ms);
    CHECK(ch.unmask());
    receiver.join();
    CHECK(got == 1);
    CHECK_FALSE(ch.pending());
}
