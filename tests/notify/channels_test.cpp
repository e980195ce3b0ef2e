// SPDX-License-Identifier: MIT
// The notification channels: the common contract across kinds, then what each kind adds.

#include <xnv/notify/counting_fake.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/notify/futex_channel.hpp>
#include <xnv/notify/inprocess_channel.hpp>
#include <xnv/notify/masked_channel.hpp>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace xnv::notify;
using xnv::nanos;

namespace {

struct eventfd_kind {
    eventfd_channel ch;
    eventfd_channel& channel() { return ch; }
};
struct futex_kind {
    futex_channel_state state{};
    futex_channel ch{state};
    futex_channel& channel() { return ch; }
};
struct inprocess_kind {
    inprocess_channel ch;
    inprocess_channel& channel() { return ch; }
};
struct masked_futex_kind {
    futex_channel_state state{};
    futex_channel inner{state};
    event_port_state port{};
    masked_channel<futex_channel> ch{port, inner};
    masked_channel<futex_channel>& channel() { return ch; }
};
struct masked_eventfd_kind {
    eventfd_channel inner;
    event_port_state port{};
    masked_channel<eventfd_channel> ch{port, inner};
    masked_channel<eventfd_channel>& channel() { return ch; }
};

bool readable(int fd)
{
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

} // namespace

#define XNV_CHANNEL_KINDS eventfd_kind, futex_kind, inprocess_kind, masked_futex_kind, masked_eventfd_kind

TEST_CASE_TEMPLATE("a fresh channel has nothing pending", K, XNV_CHANNEL_KINDS)
{
    K k;
    CHECK(k.channel().try_consume() == 0);
    CHECK(k.channel().wait_for(nanos::zero()) == 0);
}

TEST_CASE_TEMPLATE("a notification is consumed once", K, XNV_CHANNEL_KINDS)
{
    K k;
    k.channel().notify();
    CHECK(k.channel().try_consume() >= 1);
    CHECK(k.channel().try_consume() == 0);
}

TEST_CASE_TEMPLATE("notifications before the receiver looks are merged, none lost", K, XNV_CHANNEL_KINDS)
{
    K k;
    for (int i = 0; i < 3; ++i)
        k.channel().notify();
    const std::uint64_t n = k.channel().try_consume();
    CHECK(n >= 1);
    CHECK(n <= 3);
    CHECK(k.channel().try_consume() == 0);
}

TEST_CASE_TEMPLATE("wait_for returns a pending notification without sleeping", K, XNV_CHANNEL_KINDS)
{
    K k;
    k.channel().notify();
    CHECK(k.channel().wait_for(no_deadline) >= 1);
}

TEST_CASE_TEMPLATE("wait_for with nothing pending times out with 0", K, XNV_CHANNEL_KINDS)
{
    K k;
    CHECK(k.channel().wait_for(2ms) == 0);
    CHECK(k.channel().wait_for(-1ms) == 0);
}

TEST_CASE_TEMPLATE("a receiver asleep in wait_for is woken by another thread's notify", K, XNV_CHANNEL_KINDS)
{
    K k;
    std::atomic<bool> waiting{false};
    std::uint64_t got = 0;
    std::thread receiver([&] {
        waiting.store(true);
        got = k.channel().wait_for(no_deadline);
    });
    while (!waiting.load())
        std::this_thread::yield();
    std::this_thread::sleep_for(1ms); // most likely asleep by now; correct either way
    k.channel().notify();
    receiver.join();
    CHECK(got >= 1);
    CHECK(k.channel().try_consume() == 0);
}

TEST_CASE("eventfd: the count is exact and the descriptor is readable exactly while pending")
{
    eventfd_channel ch;
    REQUIRE(ch.fd() >= 0);
    CHECK_FALSE(readable(ch.fd()));
    ch.notify();
    ch.notify();
    CHECK(readable(ch.fd()));
    CHECK(ch.try_consume() == 2);
    CHECK_FALSE(readable(ch.fd()));
}

TEST_CASE("eventfd: adopting a descriptor takes ownership; release gives it back")
{
    const int raw = ::eventfd(0, EFD_CLOEXEC); // blocking: adoption makes it non-blocking
    REQUIRE(raw >= 0);
    CHECK(eventfd_channel::is_eventfd(raw));
    {
        eventfd_channel ch(adopt_fd, raw);
        CHECK(ch.fd() == raw);
        CHECK((::fcntl(raw, F_GETFL) & O_NONBLOCK) != 0);
        CHECK(ch.try_consume() == 0); // would block forever if still blocking
        ch.notify();
        CHECK(ch.wait_for(no_deadline) == 1);
    }
    CHECK(::fcntl(raw, F_GETFD) == -1); // closed by the destructor
    CHECK(errno == EBADF);

    eventfd_channel ch;
    const int fd = ch.release();
    CHECK(ch.fd() == -1);
    CHECK(::fcntl(fd, F_GETFD) != -1); // still open: now the caller's
    CHECK(::close(fd) == 0);
}

TEST_CASE("eventfd: moving transfers the descriptor and closes it once")
{
    eventfd_channel a;
    const int fd = a.fd();
    eventfd_channel b(std::move(a));
    CHECK(a.fd() == -1);
    CHECK(b.fd() == fd);
    eventfd_channel c;
    const int other = c.fd();
    c = std::move(b);
    CHECK(c.fd() == fd);
    CHECK(::fcntl(other, F_GETFD) == -1); // c's old descriptor was closed
    c.notify();
    CHECK(c.try_consume() == 1);
}

TEST_CASE("eventfd: a descriptor that is not an eventfd is refused with a clear error and left open")
{
    int p[2];
    REQUIRE(::pipe(p) == 0);
    CHECK_FALSE(eventfd_channel::is_eventfd(p[0]));
    CHECK_THROWS_WITH_AS(eventfd_channel(adopt_fd, p[0]), doctest::Contains("is not an open eventfd"),
                         std::invalid_argument);
    CHECK(::fcntl(p[0], F_GETFD) != -1);
    ::close(p[0]);
    ::close(p[1]);
    CHECK_FALSE(eventfd_channel::is_eventfd(-1));
    CHECK_THROWS_WITH_AS(eventfd_channel(adopt_fd, -1), doctest::Contains("descriptor -1 is not an open eventfd"),
                         std::invalid_argument);
    CHECK_FALSE(eventfd_channel::is_eventfd(p[0])); // closed now
}

TEST_CASE("futex_channel: a view over a span, initialised once, shared by copies")
{
    alignas(64) std::array<std::byte, 128> mem{};
    mem.fill(std::byte{0xff}); // garbage until initialised
    futex_channel a(shared_init, mem);
    futex_channel b{std::span<std::byte>(mem)}; // the peer attaches
    CHECK_FALSE(a.pending_approx());
    a.notify();
    CHECK(b.pending_approx());
    CHECK(b.try_consume() == 1);
    CHECK(a.try_consume() == 0);
    futex_channel c = b;
    c.notify();
    CHECK(a.try_consume() == 1);
}

TEST_CASE("futex_channel: memory too small or misaligned is refused with a clear error")
{
    alignas(64) std::array<std::byte, 192> mem{};
    CHECK_THROWS_WITH_AS(futex_channel(std::span<std::byte>(mem.data(), 32)),
                         doctest::Contains("needs 64 bytes of shared memory, got 32"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(futex_channel(shared_init, std::span<std::byte>(mem.data() + 8, 64)),
                         doctest::Contains("aligned to 64 bytes"), std::invalid_argument);
}

TEST_CASE("counting_fake: records each notification with its virtual time")
{
    xnv::virtual_clock clock;
    counting_fake fake{xnv::clock_ref(clock)};
    fake.notify();
    clock.advance(3us);
    fake.notify();
    fake.notify();
    CHECK(fake.count() == 3);
    CHECK(fake.pending() == 3);
    CHECK(fake.notifications()[0] == nanos(0));
    CHECK(fake.notifications()[1] == nanos(3us));
    CHECK(fake.wait_for(1s) == 3); // never blocks
    CHECK(fake.try_consume() == 0);
    CHECK(fake.count() == 3); // the record stays
    fake.clear();
    CHECK(fake.count() == 0);
}
