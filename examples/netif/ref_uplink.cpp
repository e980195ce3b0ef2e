// SPDX-License-Identifier: MIT
#include "ref_uplink.hpp"

#include <array>
#include <cerrno>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace xnv::example {

namespace {

// One writer: a relaxed load and store; readers only want an approximate value.
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept
{
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

tap_config device_config(const uplink_config& u)
{
    if (u.name.empty())
        throw std::runtime_error("--uplink-tap needs an interface name");
    tap_config t;
    t.name = u.name;
    t.netns = u.netns;
    t.mac = u.mac;
    t.mtu = u.mtu;
    t.queues = 1; // one reader thread: a single queue keeps the frames of a flow in order
    t.options = tap_option_names{"--uplink-tap", "--uplink-netns", "--uplink-mtu"};
    return t;
}

} // namespace

uplink_tap::uplink_tap(const uplink_config& cfg) : netns_(cfg.netns)
{
    tap_device dev(device_config(cfg));
    dev.set_offloads(cfg.offloads);
    name_ = dev.name();
    fd_ = dev.take_queue(0); // the device lives as long as this descriptor
    stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_fd_)
        throw std::system_error(errno, std::generic_category(), "uplink: eventfd");
}

uplink_tap::~uplink_tap()
{
    stop();
}

void uplink_tap::start(sink s)
{
    if (reader_.joinable())
        throw std::logic_error("uplink_tap::start: already started");
    sink_ = std::move(s);
    buf_.resize(vnet_read_buffer_bytes);
    // Thread creation orders everything above before the reader's first step.
    reader_ = std::thread([this] { run(); });
}

void uplink_tap::stop() noexcept
{
    if (!reader_.joinable())
        return;
    const std::uint64_t one = 1;
    // An eventfd write of 1 cannot fail short of a counter overflow, which one stop cannot cause.
    (void)!::write(stop_fd_.get(), &one, sizeof one);
    reader_.join();
}

void uplink_tap::run() noexcept
{
    std::array<pollfd, 2> p{pollfd{fd_.get(), POLLIN, 0}, pollfd{stop_fd_.get(), POLLIN, 0}};
    counters& c = *c_;
    for (;;) {
        if (::poll(p.data(), p.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if ((p[1].revents & POLLIN) != 0)
            return;
        if ((p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (p[0].revents & POLLIN) == 0)
            return; // the device is gone: nothing more will arrive
        // A bounded batch, then back to poll: a stop request waits at most one batch.
        for (int i = 0; i < 256; ++i) {
            const vnet_read r = read_vnet_frame(fd_.get(), buf_);
            if (r.st == vnet_read::status::none)
                break;
            if (r.st == vnet_read::status::dropped) {
                bump(c.read_dropped);
                continue;
            }
            const std::span<const std::byte> frame(buf_.data() + vnet_header_bytes, r.frame_bytes);
            bump(c.read_frames);
            bump(c.read_bytes, r.frame_bytes);
            if (r.meta.gso.present())
                bump(c.read_gso);
            const uplink_verdict v = sink_(frame, r.meta);
            bump(c.to_vifs, v.delivered);
            bump(c.vif_full, v.full);
            if (v.hairpin)
                bump(c.hairpin);
            else if (v.delivered == 0)
                bump(c.no_destination);
        }
    }
}

bool uplink_tap::write(std::span<const std::byte> frame, const frame_meta& meta) noexcept
{
    counters& c = *c_;
    // Several workers write at once: read-modify-writes, relaxed (counters order nothing).
    const vnet_write w = write_vnet_frame(fd_.get(), frame, meta);
    if (w == vnet_write::refused) {
        c.write_errors.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    c.written_frames.fetch_add(1, std::memory_order_relaxed);
    c.written_bytes.fetch_add(frame.size(), std::memory_order_relaxed);
    if (w == vnet_write::written_gso)
        c.written_gso.fetch_add(1, std::memory_order_relaxed);
    return true;
}

uplink_stats uplink_tap::stats() const
{
    constexpr auto r = std::memory_order_relaxed;
    const counters& c = *c_;
    uplink_stats s;
    s.name = name_;
    s.netns = netns_;
    s.read_frames = c.read_frames.load(r);
    s.read_bytes = c.read_bytes.load(r);
    s.read_gso = c.read_gso.load(r);
    s.read_dropped = c.read_dropped.load(r);
    s.to_vifs = c.to_vifs.load(r);
    s.vif_full = c.vif_full.load(r);
    s.no_destination = c.no_destination.load(r);
    s.hairpin = c.hairpin.load(r);
    s.written_frames = c.written_frames.load(r);
    s.written_bytes = c.written_bytes.load(r);
    s.written_gso = c.written_gso.load(r);
    s.write_errors = c.write_errors.load(r);
    return s;
}

} // namespace xnv::example
