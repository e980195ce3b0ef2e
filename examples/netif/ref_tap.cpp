// SPDX-License-Identifier: MIT
#include "ref_tap.hpp"

#include <xnv/wire/netif.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sched.h>
#include <stdexcept>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace xnv::example {

namespace {

// virtio_net_hdr values (the virtio specification, 5.1.6); <linux/virtio_net.h> is not valid C++.
constexpr std::uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr std::uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
constexpr std::uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

std::string errno_text(int e) { return std::strerror(e); }

[[noreturn]] void fail(const std::string& what, int e)
{
    if (e == EPERM || e == EACCES)
        throw std::runtime_error(what + ": not permitted (" + errno_text(e) +
                                 "): creating a TAP interface needs CAP_NET_ADMIN; run as root");
    throw std::runtime_error(what + ": " + errno_text(e));
}

// Enters a named network namespace for its lifetime and returns to the caller's on the way out
// (also when the constructor of tap_device throws). setns() changes only the calling thread.
class netns_guard {
public:
    netns_guard(const std::string& name, const std::string& option)
    {
        if (name.empty())
            return;
        if (name.find('/') != std::string::npos || name == "." || name == "..")
            throw std::runtime_error(option + ": '" + name + "' is not a namespace name");
        back_.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
        if (!back_)
            fail("open /proc/self/ns/net", errno);
        const std::string path = "/var/run/netns/" + name;
        mem::unique_fd target{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
        if (!target) {
            const int e = errno;
            if (e == ENOENT)
                throw std::runtime_error("network namespace '" + name + "' does not exist (no " + path +
                                         "; create it with 'ip netns add " + name + "')");
            fail("open " + path, e);
        }
        if (::setns(target.get(), CLONE_NEWNET) != 0)
            fail("entering network namespace '" + name + "'", errno);
    }
    netns_guard(const netns_guard&) = delete;
    netns_guard& operator=(const netns_guard&) = delete;
    ~netns_guard()
    {
        // Failing to return would leave this thread in the other namespace: nothing sensible
        // is left to do then but stop.
        if (back_ && ::setns(back_.get(), CLONE_NEWNET) != 0)
            std::terminate();
    }

private:
    mem::unique_fd back_;
};

void copy_name(ifreq& r, const std::string& name)
{
    std::memset(r.ifr_name, 0, sizeof r.ifr_name);
    std::memcpy(r.ifr_name, name.data(), std::min(name.size(), sizeof r.ifr_name - 1));
}

std::uint16_t be16(const std::byte* p) noexcept
{
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}

} // namespace

tap_device::tap_device(const tap_config& cfg)
{
    if (cfg.name.size() >= IFNAMSIZ)
        throw std::runtime_error(cfg.options.name + ": '" + cfg.name + "' is longer than " + std::to_string(IFNAMSIZ - 1) +
                                 " characters");
    if (cfg.queues == 0)
        throw std::runtime_error("a TAP device needs at least one queue");
    if (cfg.mtu < 68 || cfg.mtu > 65521)
        throw std::runtime_error(cfg.options.mtu + " must be in 68..65521, got " + std::to_string(cfg.mtu));
    if (::access("/dev/net/tun", F_OK) != 0)
        throw std::runtime_error("/dev/net/tun is missing: the kernel's tun driver is needed for TAP mode "
                                 "(modprobe tun, or create the node: mknod /dev/net/tun c 10 200)");
    netns_guard in_ns(cfg.netns, cfg.options.netns);
    for (std::uint32_t q = 0; q < cfg.queues; ++q) {
        mem::unique_fd fd{::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)};
        if (!fd)
            fail("open /dev/net/tun", errno);
        ifreq r{};
        copy_name(r, q == 0 ? cfg.name : name_);
        r.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (cfg.queues > 1 ? IFF_MULTI_QUEUE : 0));
        if (::ioctl(fd.get(), TUNSETIFF, &r) != 0)
            fail("creating TAP interface '" + (q == 0 ? cfg.name : name_) + "'", errno);
        if (q == 0)
            name_ = r.ifr_name;
        fds_.push_back(std::move(fd));
    }
    // Interface settings go through an ordinary socket of the namespace the device is in.
    mem::unique_fd s{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (!s)
        fail("socket", errno);
    ifreq r{};
    copy_name(r, name_);
    if (cfg.mac != mac_bytes{}) {
        r.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        std::memcpy(r.ifr_hwaddr.sa_data, cfg.mac.data(), cfg.mac.size());
        if (::ioctl(s.get(), SIOCSIFHWADDR, &r) != 0)
            fail("setting the MAC of " + name_, errno);
    }
    copy_name(r, name_);
    r.ifr_mtu = static_cast<int>(cfg.mtu);
    if (::ioctl(s.get(), SIOCSIFMTU, &r) != 0)
        fail("setting the MTU of " + name_, errno);
    if (cfg.bring_up) {
        copy_name(r, name_);
        if (::ioctl(s.get(), SIOCGIFFLAGS, &r) != 0)
            fail("reading the flags of " + name_, errno);
        r.ifr_flags = static_cast<short>(r.ifr_flags | IFF_UP);
        if (::ioctl(s.get(), SIOCSIFFLAGS, &r) != 0)
            fail("bringing " + name_ + " up", errno);
    }
}

void tap_device::set_offloads(const tap_offloads& o)
{
    unsigned long f = 0;
    if (o.csum) {
        f |= TUN_F_CSUM;
        // TSO is only offered with checksum offload: a super-frame's checksum is always partial.
        if (o.tso4)
            f |= TUN_F_TSO4;
        if (o.tso6)
            f |= TUN_F_TSO6;
    }
    for (auto& fd : fds_)
        if (::ioctl(fd.get(), TUNSETOFFLOAD, f) != 0)
            fail("TUNSETOFFLOAD on " + name_, errno);
}

void tap_device::keep_queues(std::uint32_t n)
{
    if (n < fds_.size())
        fds_.resize(n);
}

mem::unique_fd tap_device::take_queue(std::uint32_t q)
{
    if (q >= fds_.size() || !fds_[q])
        throw std::logic_error("tap_device::take_queue: no queue " + std::to_string(q));
    return std::move(fds_[q]);
}

l4_location locate_l4(std::span<const std::byte> f) noexcept
{
    l4_location out;
    std::size_t at = 12;
    if (f.size() < at + 2)
        return out;
    std::uint16_t type = be16(f.data() + at);
    at += 2;
    if (type == 0x8100) { // one 802.1Q tag
        if (f.size() < at + 4)
            return out;
        type = be16(f.data() + at + 2);
        at += 4;
    }
    std::uint8_t proto = 0;
    if (type == 0x0800) {
        if (f.size() < at + 20)
            return out;
        const unsigned ihl = (std::to_integer<unsigned>(f[at]) & 0x0fu) * 4u;
        if (ihl < 20 || f.size() < at + ihl)
            return out;
        proto = std::to_integer<std::uint8_t>(f[at + 9]);
        at += ihl;
    } else if (type == 0x86dd) {
        if (f.size() < at + 40)
            return out;
        proto = std::to_integer<std::uint8_t>(f[at + 6]);
        at += 40;
    } else {
        return out;
    }
    if (proto == 6) {
        if (f.size() < at + 20)
            return out;
        const unsigned doff = (std::to_integer<unsigned>(f[at + 12]) >> 4) * 4u;
        if (doff < 20 || f.size() < at + doff)
            return out;
        out = {true, static_cast<std::uint16_t>(at), 16, static_cast<std::uint16_t>(at + doff)};
    } else if (proto == 17) {
        if (f.size() < at + 8)
            return out;
        out = {true, static_cast<std::uint16_t>(at), 6, static_cast<std::uint16_t>(at + 8)};
    }
    return out;
}

bool vnet_to_netif(const vnet_header& h, frame_meta& out) noexcept
{
    out = frame_meta{};
    // A partial checksum is Xen's csum_blank; Linux's netfront also marks it data_validated.
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0)
        out.csum_flags = netif::txf::csum_blank | netif::txf::data_validated;
    else if ((h.flags & VIRTIO_NET_HDR_F_DATA_VALID) != 0)
        out.csum_flags = netif::txf::data_validated;
    switch (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return true;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        out.gso = netif::gso_info{netif::gso_type::tcpv4, h.gso_size};
        return h.gso_size != 0;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        out.gso = netif::gso_info{netif::gso_type::tcpv6, h.gso_size};
        return h.gso_size != 0;
    default:
        return false;
    }
}

vnet_header netif_to_vnet(std::span<const std::byte> frame, const frame_meta& m) noexcept
{
    vnet_header h;
    const bool gso = m.gso.type != netif::gso_type::none && m.gso.size != 0;
    // A merged (LRO) frame holds only the pseudo-header sum in its checksum field, as does a
    // csum_blank one: both are partial, and so is any super-frame.
    const bool partial = (m.csum_flags & netif::rxf::csum_blank) != 0 || m.segments > 1 || gso;
    const l4_location l4 = locate_l4(frame);
    if (partial && l4.ok) {
        h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h.csum_start = l4.csum_start;
        h.csum_offset = l4.csum_offset;
    } else if ((m.csum_flags & netif::rxf::data_validated) != 0) {
        h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    if (gso && l4.ok && l4.csum_offset == 16) {
        h.gso_type = m.gso.type == netif::gso_type::tcpv6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
        h.gso_size = m.gso.size;
        h.hdr_len = l4.header_bytes;
    }
    return h;
}

vnet_header decode_vnet(std::span<const std::byte, vnet_header_bytes> raw) noexcept
{
    // The legacy header is in the host's order (little-endian on every host this runs on).
    auto u16 = [&](std::size_t at) {
        std::uint16_t v;
        std::memcpy(&v, raw.data() + at, 2);
        return v;
    };
    vnet_header h;
    h.flags = std::to_integer<std::uint8_t>(raw[0]);
    h.gso_type = std::to_integer<std::uint8_t>(raw[1]);
    h.hdr_len = u16(2);
    h.gso_size = u16(4);
    h.csum_start = u16(6);
    h.csum_offset = u16(8);
    return h;
}

void encode_vnet(const vnet_header& h, std::span<std::byte, vnet_header_bytes> raw) noexcept
{
    auto put = [&](std::size_t at, std::uint16_t v) { std::memcpy(raw.data() + at, &v, 2); };
    raw[0] = std::byte{h.flags};
    raw[1] = std::byte{h.gso_type};
    put(2, h.hdr_len);
    put(4, h.gso_size);
    put(6, h.csum_start);
    put(8, h.csum_offset);
}

vnet_read read_vnet_frame(int fd, std::span<std::byte, vnet_header_bytes> header,
                          std::span<const std::span<std::byte>> pieces) noexcept
{
    vnet_read r;
    if (pieces.size() > tx_frame_pages) {
        r.st = vnet_read::status::dropped;
        return r;
    }
    std::array<iovec, 1 + tx_frame_pages> iov;
    iov[0] = iovec{header.data(), header.size()};
    std::size_t room = 0;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        iov[1 + i] = iovec{pieces[i].data(), pieces[i].size()};
        room += pieces[i].size();
    }
    const ssize_t n = ::readv(fd, iov.data(), static_cast<int>(1 + pieces.size()));
    if (n < 0)
        return r; // EAGAIN (nothing waiting) or the device went away: poll says more
    const auto got = static_cast<std::size_t>(n);
    // Too short to be Ethernet, or larger than netif's 65535-byte limit (a TSO frame beyond it:
    // the interface's gso_max_size should be lowered), or filling the buffer (perhaps cut).
    if (got <= vnet_header_bytes + 14 || got > vnet_header_bytes + netif::max_tx_size ||
        got == vnet_header_bytes + room) {
        r.st = vnet_read::status::dropped;
        return r;
    }
    r.st = vnet_to_netif(decode_vnet(header), r.meta) ? vnet_read::status::frame : vnet_read::status::dropped;
    r.frame_bytes = got - vnet_header_bytes;
    return r;
}

vnet_read read_vnet_frame(int fd, std::span<std::byte, vnet_header_bytes> header, std::span<std::byte> frame) noexcept
{
    const std::span<std::byte> one[1] = {frame};
    return read_vnet_frame(fd, header, std::span<const std::span<std::byte>>(one));
}

vnet_read read_vnet_frame(int fd, std::span<std::byte> buf) noexcept
{
    if (buf.size() <= vnet_header_bytes)
        return vnet_read{vnet_read::status::dropped, 0, {}};
    return read_vnet_frame(fd, buf.first<vnet_header_bytes>(), buf.subspan(vnet_header_bytes));
}

vnet_write write_vnet_frame(int fd, std::span<const std::byte> frame, const frame_meta& meta) noexcept
{
    const vnet_header h = netif_to_vnet(frame, meta);
    std::array<std::byte, vnet_header_bytes> raw{};
    encode_vnet(h, raw);
    std::array<iovec, 2> iov{iovec{raw.data(), raw.size()},
                             iovec{const_cast<std::byte*>(frame.data()), frame.size()}};
    const ssize_t n = ::writev(fd, iov.data(), 2);
    if (n < 0 || static_cast<std::size_t>(n) != raw.size() + frame.size())
        return vnet_write::refused;
    return h.gso_type != VIRTIO_NET_HDR_GSO_NONE ? vnet_write::written_gso : vnet_write::written;
}

vnet_write write_vnet_fragments(int fd, std::span<const std::span<const std::byte>> frags,
                                const frame_meta& meta) noexcept
{
    if (frags.size() > netif::nr_slots_min)
        return vnet_write::refused;
    std::array<std::byte, frame_head_bytes> head_copy;
    const vnet_header h = netif_to_vnet(frame_head(frags, head_copy), meta);
    std::array<std::byte, vnet_header_bytes> raw{};
    encode_vnet(h, raw);
    std::array<iovec, 1 + netif::nr_slots_min> iov;
    iov[0] = iovec{raw.data(), raw.size()};
    std::size_t bytes = raw.size();
    for (std::size_t i = 0; i < frags.size(); ++i) {
        // writev only reads through iov_base; the cast is its C signature's.
        iov[1 + i] = iovec{const_cast<std::byte*>(frags[i].data()), frags[i].size()};
        bytes += frags[i].size();
    }
    const ssize_t n = ::writev(fd, iov.data(), static_cast<int>(1 + frags.size()));
    if (n < 0 || static_cast<std::size_t>(n) != bytes)
        return vnet_write::refused;
    return h.gso_type != VIRTIO_NET_HDR_GSO_NONE ? vnet_write::written_gso : vnet_write::written;
}

tap_port::tap_port(mem::unique_fd fd) : fd_(std::move(fd)) {}

namespace {
void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept
{
    // Single writer (the queue thread); readers only want an approximate value.
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
} // namespace

nanos tap_port::next_due(nanos)
{
    // Frames are read straight into the caller's buffer, so none is read ahead to answer
    // this: after a read that found the device empty, a poll that does not wait says whether
    // one has arrived since.
    if (dry_) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0)
            return nanos::max();
        dry_ = false;
    }
    return nanos::zero();
}

std::size_t tap_port::read_into(std::span<const std::span<std::byte>> pieces, frame_meta& meta) noexcept
{
    std::array<std::byte, vnet_header_bytes> header;
    for (;;) {
        const vnet_read r = read_vnet_frame(fd_.get(), header, pieces);
        if (r.st == vnet_read::status::none) {
            dry_ = true;
            return 0;
        }
        if (r.st == vnet_read::status::dropped) {
            bump(c_.read_dropped);
            continue;
        }
        meta = r.meta;
        bump(c_.read_frames);
        bump(c_.read_bytes, r.frame_bytes);
        if (meta.gso.type != netif::gso_type::none)
            bump(c_.read_gso);
        return r.frame_bytes;
    }
}

std::size_t tap_port::next_frame(std::span<std::byte> buf, frame_meta& meta, nanos)
{
    const std::span<std::byte> one[1] = {buf};
    return read_into(one, meta);
}

std::size_t tap_port::next_frame_paged(std::span<const std::span<std::byte>> pages, std::span<std::byte>,
                                       frame_meta& meta, nanos)
{
    return read_into(pages, meta);
}

void tap_port::count_write(vnet_write w, std::size_t bytes) noexcept
{
    if (w == vnet_write::refused) {
        bump(c_.write_errors);
        return;
    }
    bump(c_.written_frames);
    bump(c_.written_bytes, bytes);
    if (w == vnet_write::written_gso)
        bump(c_.written_gso);
}

void tap_port::deliver(std::span<const std::byte> frame, const frame_meta& meta)
{
    count_write(write_vnet_frame(fd_.get(), frame, meta), frame.size());
}

void tap_port::deliver_fragments(std::span<const std::span<const std::byte>> frags, const frame_meta& meta,
                                 std::span<std::byte>)
{
    std::size_t bytes = 0;
    for (const auto& f : frags)
        bytes += f.size();
    count_write(write_vnet_fragments(fd_.get(), frags, meta), bytes);
}

tap_stats tap_port::stats() const noexcept
{
    tap_stats s;
    s.read_frames = c_.read_frames.load(std::memory_order_relaxed);
    s.read_bytes = c_.read_bytes.load(std::memory_order_relaxed);
    s.read_gso = c_.read_gso.load(std::memory_order_relaxed);
    s.read_dropped = c_.read_dropped.load(std::memory_order_relaxed);
    s.written_frames = c_.written_frames.load(std::memory_order_relaxed);
    s.written_bytes = c_.written_bytes.load(std::memory_order_relaxed);
    s.written_gso = c_.written_gso.load(std::memory_order_relaxed);
    s.write_errors = c_.write_errors.load(std::memory_order_relaxed);
    return s;
}

} // namespace xnv::example
