// SPDX-License-Identifier: MIT
// Two processes, one shared ring: the parent is the front end (requests), the forked child the
// back end (responses). Each request carries a sequence number and a stamp derived from it;
// the back end checks both and echoes them. Prints live throughput once a second and a summary.
//
//   xnv-ring-demo [--seconds N] [--layout xen_abi|padded] [--batch N]

#include <xnv/ring/ring.hpp>

#include <fmt/core.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct request {
    std::uint64_t seq;
    std::uint64_t stamp;
};
struct response {
    std::uint64_t seq;
    std::uint64_t stamp;
};

constexpr std::uint64_t stamp_of(std::uint64_t seq) { return seq * 0x9E3779B97F4A7C15ull ^ 0xA5A5A5A5A5A5A5A5ull; }

struct options {
    unsigned seconds = 5;
    std::string_view layout = "padded";
    unsigned batch = 32;
};

// Counters the two processes share (in the same memfd, after the ring).
struct shared_stats {
    std::uint64_t back_notifications;
    std::uint64_t back_bad;
    std::uint64_t done;
};

[[noreturn]] void usage(int rc)
{
    fmt::print(rc ? stderr : stdout,
               "usage: xnv-ring-demo [--seconds N] [--layout xen_abi|padded] [--batch N]\n"
               "  --seconds N   run time, 1..3600 (default 5)\n"
               "  --layout L    xen_abi (byte-compatible with Xen) or padded (default)\n"
               "  --batch N     requests per publication, 1..256 (default 32)\n");
    std::exit(rc);
}

unsigned parse_uint(std::string_view flag, const char* text, unsigned lo, unsigned hi)
{
    unsigned v = 0;
    const std::string_view s(text);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v < lo || v > hi) {
        fmt::print(stderr, "xnv-ring-demo: {} expects an integer in {}..{}, got '{}'\n", flag, lo, hi, s);
        std::exit(2);
    }
    return v;
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a(argv[i]);
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                fmt::print(stderr, "xnv-ring-demo: {} needs a value\n", a);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h")
            usage(0);
        else if (a == "--seconds")
            o.seconds = parse_uint(a, value(), 1, 3600);
        else if (a == "--batch")
            o.batch = parse_uint(a, value(), 1, 256);
        else if (a == "--layout") {
            o.layout = value();
            if (o.layout != "xen_abi" && o.layout != "padded") {
                fmt::print(stderr, "xnv-ring-demo: --layout must be xen_abi or padded, got '{}'\n", o.layout);
                std::exit(2);
            }
        } else {
            fmt::print(stderr, "xnv-ring-demo: unknown argument '{}'\n", a);
            usage(2);
        }
    }
    return o;
}

template <class Layout>
int run(const options& o)
{
    constexpr std::size_t ring_bytes = 64 * 1024;
    const std::size_t total = ring_bytes + 4096;
    const int fd = memfd_create("xnv-ring-demo", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(total)) != 0) {
        fmt::print(stderr, "xnv-ring-demo: memfd: {}\n", std::strerror(errno));
        return 1;
    }
    void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (mem == MAP_FAILED) {
        fmt::print(stderr, "xnv-ring-demo: mmap: {}\n", std::strerror(errno));
        return 1;
    }
    auto* bytes = static_cast<std::byte*>(mem);
    auto* stats = reinterpret_cast<shared_stats*>(bytes + ring_bytes);
    const std::span<std::byte> ring_mem(bytes, ring_bytes);
    xnv::front_ring<request, response, Layout> front(xnv::ring_init, ring_mem);

    const pid_t child = fork();
    if (child < 0) {
        fmt::print(stderr, "xnv-ring-demo: fork: {}\n", std::strerror(errno));
        return 1;
    }
    if (child == 0) {
        // Back end: consume, check the stamp, respond; sleep on a futex when idle.
        xnv::back_ring<request, response, Layout> back(ring_mem);
        xnv::wait::futex w;
        request in[256];
        std::uint64_t expect = 0;
        while (std::atomic_ref<std::uint64_t>(stats->done).load(std::memory_order_acquire) == 0) {
            auto c = back.wait_pending(w, std::chrono::milliseconds(50));
            if (!c.ok()) {
                fmt::print(stderr, "back end: {}\n", xnv::to_string(c.error));
                _exit(3);
            }
            c = back.consume(in);
            for (std::uint32_t i = 0; i < c.count; ++i) {
                if (in[i].seq != expect || in[i].stamp != stamp_of(expect))
                    std::atomic_ref<std::uint64_t>(stats->back_bad).fetch_add(1, std::memory_order_relaxed);
                ++expect;
                (void)back.try_produce(response{in[i].seq, in[i].stamp});
            }
            if (c.count && back.push()) {
                back.wake_peer(w);
                std::atomic_ref<std::uint64_t>(stats->back_notifications).fetch_add(1, std::memory_order_relaxed);
            }
        }
        _exit(0);
    }

    fmt::print("xnv-ring-demo: layout {}, {} slots of {} bytes, batch {}, {} s, front pid {}, back pid {}\n", o.layout,
               front.size(), sizeof(xnv::ring_slot<request, response>), o.batch, o.seconds, getpid(), child);
    xnv::wait::futex w;
    std::uint64_t seq = 0, answered = 0, bad = 0, front_notifications = 0;
    response out[256];
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto tick = start + std::chrono::seconds(1);
    std::uint64_t answered_at_tick = 0;
    for (unsigned second = 0; second < o.seconds;) {
        for (unsigned i = 0; i < o.batch && front.try_produce(request{seq, stamp_of(seq)}); ++i)
            ++seq;
        if (front.unpublished() && front.push()) {
            front.wake_peer(w);
            ++front_notifications;
        }
        auto c = front.free_slots() ? front.consume(out) : front.wait_pending(w, std::chrono::milliseconds(50));
        if (c.ok() && !front.free_slots())
            c = front.consume(out);
        if (!c.ok()) {
            fmt::print(stderr, "front end: {}\n", xnv::to_string(c.error));
            break;
        }
        for (std::uint32_t i = 0; i < c.count; ++i, ++answered)
            if (out[i].seq != answered || out[i].stamp != stamp_of(answered))
                ++bad;
        if (clock::now() >= tick) {
            ++second;
            const double mops = static_cast<double>(answered - answered_at_tick) / 1e6;
            fmt::print("[{:3}s] {:7.2f} M round trips/s  total {:>12}  notifications front {:>9} back {:>9}  bad {}\n",
                       second, mops, answered, front_notifications,
                       std::atomic_ref<std::uint64_t>(stats->back_notifications).load(std::memory_order_relaxed),
                       bad + std::atomic_ref<std::uint64_t>(stats->back_bad).load(std::memory_order_relaxed));
            std::fflush(stdout);
            answered_at_tick = answered;
            tick += std::chrono::seconds(1);
        }
    }
    std::atomic_ref<std::uint64_t>(stats->done).store(1, std::memory_order_release);
    int status = 0;
    waitpid(child, &status, 0);
    const double secs = std::chrono::duration<double>(clock::now() - start).count();
    const std::uint64_t back_bad = std::atomic_ref<std::uint64_t>(stats->back_bad).load(std::memory_order_relaxed);
    fmt::print("summary: {} round trips in {:.2f} s = {:.2f} M/s; notifications per 1000 requests: front {:.2f}, back "
               "{:.2f}; corrupted or out of order: {}\n",
               answered, secs, static_cast<double>(answered) / secs / 1e6,
               1000.0 * static_cast<double>(front_notifications) / static_cast<double>(seq ? seq : 1),
               1000.0 * static_cast<double>(std::atomic_ref<std::uint64_t>(stats->back_notifications).load()) /
                   static_cast<double>(seq ? seq : 1),
               bad + back_bad);
    munmap(mem, total);
    const bool child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return (bad + back_bad == 0 && child_ok) ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    const options o = parse(argc, argv);
    return o.layout == "xen_abi" ? run<xnv::layout::xen_abi>(o) : run<xnv::layout::padded>(o);
}
