// SPDX-License-Identifier: MIT
// The TAP port's translation between virtio_net_hdr and netif's checksum flags and GSO slot,
// and its scatter-gather writes and direct reads (against a real TAP in a private namespace).
#include "ref_tap.hpp"
#include "ref_uplink.hpp"

#include <doctest/doctest.h>

#include <xnv/wire/netif.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

using namespace xnv::example;
namespace netif = xnv::netif;
using xnv::nanos;

namespace {

// Ethernet + IPv4 (ihl words of 4 bytes) + TCP (doff words) or UDP, zero payload bytes added.
std::vector<std::byte> frame(std::uint16_t ethertype, std::uint8_t proto, unsigned ihl = 5, unsigned doff = 5,
                             std::size_t payload = 100)
{
    std::vector<std::byte> f(14, std::byte{0});
    f[12] = std::byte(ethertype >> 8);
    f[13] = std::byte(ethertype & 0xff);
    if (ethertype == 0x0800) {
        std::vector<std::byte> ip(ihl * 4, std::byte{0});
        ip[0] = std::byte(0x40 | ihl);
        ip[9] = std::byte{proto};
        f.insert(f.end(), ip.begin(), ip.end());
    } else {
        std::vector<std::byte> ip(40, std::byte{0});
        ip[0] = std::byte{0x60};
        ip[6] = std::byte{proto};
        f.insert(f.end(), ip.begin(), ip.end());
    }
    // A data offset below 5 still gets a 20-byte header, so the field can say so.
    std::vector<std::byte> l4(proto == 6 ? std::max<std::size_t>(doff * 4, 20) : 8, std::byte{0});
    if (proto == 6)
        l4[12] = std::byte(doff << 4);
    f.insert(f.end(), l4.begin(), l4.end());
    f.resize(f.size() + payload);
    return f;
}

} // namespace

TEST_CASE("locate_l4 finds TCP and UDP headers behind IPv4 options and IPv6")
{
    const auto tcp = locate_l4(frame(0x0800, 6, 6, 8));
    CHECK(tcp.ok);
    CHECK(tcp.csum_start == 14 + 24);
    CHECK(tcp.csum_offset == 16);
    CHECK(tcp.header_bytes == 14 + 24 + 32);
    const auto udp6 = locate_l4(frame(0x86dd, 17));
    CHECK(udp6.ok);
    CHECK(udp6.csum_start == 54);
    CHECK(udp6.csum_offset == 6);
}

TEST_CASE("locate_l4 rejects truncated and foreign frames without reading past them")
{
    auto f = frame(0x0800, 6, 5, 5, 0);
    CHECK_FALSE(locate_l4(std::span<const std::byte>(f).first(14 + 20 + 10)).ok); // TCP header cut
    CHECK_FALSE(locate_l4(std::span<const std::byte>(f).first(13)).ok);
    CHECK_FALSE(locate_l4(frame(0x0806, 6)).ok);  // ARP
    CHECK_FALSE(locate_l4(frame(0x0800, 1)).ok);  // ICMP
    CHECK_FALSE(locate_l4(frame(0x0800, 6, 4)).ok); // IHL below 5
    CHECK_FALSE(locate_l4(frame(0x0800, 6, 5, 3)).ok); // data offset below 5
}

TEST_CASE("a partial checksum read from the TAP becomes csum_blank, TSO becomes a GSO slot")
{
    frame_meta m;
    vnet_header h;
    h.flags = 1; // NEEDS_CSUM
    h.gso_type = 1; // TCPV4
    h.gso_size = 1448;
    REQUIRE(vnet_to_netif(h, m));
    CHECK(m.csum_flags == (netif::txf::csum_blank | netif::txf::data_validated));
    CHECK(m.gso.type == netif::gso_type::tcpv4);
    CHECK(m.gso.size == 1448);
    h.gso_type = 4 | 0x80; // TCPV6 with ECN
    REQUIRE(vnet_to_netif(h, m));
    CHECK(m.gso.type == netif::gso_type::tcpv6);
    h = vnet_header{};
    h.flags = 2; // DATA_VALID
    REQUIRE(vnet_to_netif(h, m));
    CHECK(m.csum_flags == netif::txf::data_validated);
    CHECK_FALSE(m.gso.present());
}

TEST_CASE("offloads netif cannot carry are refused")
{
    frame_meta m;
    vnet_header h;
    h.flags = 1;
    h.gso_type = 3; // UDP fragmentation offload
    h.gso_size = 1400;
    CHECK_FALSE(vnet_to_netif(h, m));
    h.gso_type = 1;
    h.gso_size = 0; // TSO without a segment size
    CHECK_FALSE(vnet_to_netif(h, m));
}

TEST_CASE("a received csum_blank GSO frame is written with NEEDS_CSUM and its TSO fields")
{
    const auto f = frame(0x0800, 6, 5, 8, 3000);
    frame_meta m;
    m.csum_flags = netif::rxf::csum_blank | netif::rxf::data_validated;
    m.gso = netif::gso_info{netif::gso_type::tcpv4, 1448};
    const vnet_header h = netif_to_vnet(f, m);
    CHECK(h.flags == 1);
    CHECK(h.csum_start == 34);
    CHECK(h.csum_offset == 16);
    CHECK(h.gso_type == 1);
    CHECK(h.gso_size == 1448);
    CHECK(h.hdr_len == 34 + 32);
}

TEST_CASE("an LRO-merged frame is partial; a validated single segment is DATA_VALID")
{
    const auto f = frame(0x0800, 6);
    frame_meta merged;
    merged.csum_flags = netif::rxf::data_validated;
    merged.segments = 3;
    CHECK(netif_to_vnet(f, merged).flags == 1);
    frame_meta one;
    one.csum_flags = netif::rxf::data_validated;
    const vnet_header h = netif_to_vnet(f, one);
    CHECK(h.flags == 2);
    CHECK(h.gso_type == 0);
}

TEST_CASE("the virtio_net_hdr round-trips through its 10 bytes")
{
    vnet_header h{1, 4, 66, 1440, 54, 16};
    std::array<std::byte, vnet_header_bytes> raw{};
    encode_vnet(h, raw);
    const vnet_header back = decode_vnet(raw);
    CHECK(back.flags == 1);
    CHECK(back.gso_type == 4);
    CHECK(back.hdr_len == 66);
    CHECK(back.gso_size == 1440);
    CHECK(back.csum_start == 54);
    CHECK(back.csum_offset == 16);
}

TEST_CASE("tap_device refuses bad settings before touching the system")
{
    tap_config c;
    c.name = "a-name-far-too-long";
    CHECK_THROWS_WITH_AS(tap_device{c}, doctest::Contains("longer than 15"), std::runtime_error);
    c.name = "x";
    c.queues = 0;
    CHECK_THROWS_WITH_AS(tap_device{c}, doctest::Contains("at least one queue"), std::runtime_error);
    c.queues = 1;
    c.mtu = 10;
    CHECK_THROWS_WITH_AS(tap_device{c}, doctest::Contains("68..65521"), std::runtime_error);
}

TEST_CASE("the uplink TAP refuses bad settings naming netback's options, before touching the system")
{
    uplink_config u;
    CHECK_THROWS_WITH_AS(uplink_tap{u}, doctest::Contains("--uplink-tap needs an interface name"), std::runtime_error);
    u.name = "a-name-far-too-long";
    CHECK_THROWS_WITH_AS(uplink_tap{u}, doctest::Contains("--uplink-tap: 'a-name-far-too-long' is longer than 15"),
                         std::runtime_error);
    u.name = "x";
    u.mtu = 65522;
    CHECK_THROWS_WITH_AS(uplink_tap{u}, doctest::Contains("--uplink-mtu must be in 68..65521"), std::runtime_error);
}

TEST_CASE("netfront's TAP errors still name its own options")
{
    tap_config c;
    c.name = "x";
    c.mtu = 67;
    CHECK_THROWS_WITH_AS(tap_device{c}, doctest::Contains("--tap-mtu must be in 68..65521"), std::runtime_error);
}

// ======================================================================== frames in pieces

namespace {

std::vector<std::span<const std::byte>> cut(std::span<const std::byte> f, std::initializer_list<std::size_t> sizes)
{
    std::vector<std::span<const std::byte>> out;
    std::size_t at = 0;
    for (const std::size_t n : sizes) {
        out.push_back(f.subspan(at, n));
        at += n;
    }
    if (at < f.size())
        out.push_back(f.subspan(at));
    return out;
}

// A port with only the contiguous delivery: it gets the default gathering one.
struct recording_port final : frame_port {
    std::vector<std::byte> got;
    frame_meta meta{};
    int calls = 0;
    nanos next_due(nanos) override { return nanos::max(); }
    std::size_t next_frame(std::span<std::byte>, frame_meta&, nanos) override { return 0; }
    void deliver(std::span<const std::byte> f, const frame_meta& m) override
    {
        got.assign(f.begin(), f.end());
        meta = m;
        ++calls;
    }
    [[nodiscard]] bool tx_done() const noexcept override { return true; }
};

} // namespace

TEST_CASE("frame_head hands out the first piece when it holds the headers, else copies them together")
{
    auto f = frame(0x0800, 6, 15, 15, 5000); // the longest IPv4 and TCP options
    std::array<std::byte, frame_head_bytes> copy{};
    const auto whole = cut(f, {4096});
    const auto h1 = frame_head(whole, copy);
    CHECK(h1.data() == f.data()); // no copy
    CHECK(h1.size() == frame_head_bytes);
    const auto split = cut(f, {20, 7, 100, 4000});
    const auto h2 = frame_head(split, copy);
    CHECK(h2.data() == copy.data());
    REQUIRE(h2.size() == frame_head_bytes);
    CHECK(std::equal(h2.begin(), h2.end(), f.begin()));
    // The headers found in the head are those of the whole frame.
    const auto l4 = locate_l4(h2);
    REQUIRE(l4.ok);
    CHECK(l4.header_bytes == locate_l4(f).header_bytes);
    CHECK(l4.header_bytes == 14 + 60 + 60);
    // A frame shorter than the head: all of it.
    auto small = frame(0x0800, 17, 5, 5, 10);
    const auto h3 = frame_head(cut(small, {10}), copy);
    CHECK(h3.size() == small.size());
    CHECK(std::equal(h3.begin(), h3.end(), small.begin()));
    CHECK(frame_head({}, copy).empty());
}

TEST_CASE("a port without a scatter-gather delivery gets the pieces gathered, with their metadata")
{
    recording_port p;
    auto f = frame(0x0800, 6, 5, 8, 9000);
    for (std::size_t i = 0; i < f.size(); ++i)
        f[i] = f[i] | std::byte(i > 100 ? i & 0xff : 0);
    std::vector<std::byte> gather(netif::nr_slots_min * netif::page_size);
    frame_meta m;
    m.csum_flags = netif::rxf::csum_blank;
    m.gso = netif::gso_info{netif::gso_type::tcpv4, 1448};
    p.deliver_fragments(cut(f, {30, 4096, 4096}), m, gather);
    CHECK(p.calls == 1);
    CHECK(p.got == f);
    CHECK(p.meta.csum_flags == netif::rxf::csum_blank);
    CHECK(p.meta.gso.size == 1448);
}

TEST_CASE("a port without a paged read gets its frame copied across the pages in order")
{
    struct one_frame_port final : frame_port {
        std::vector<std::byte> f;
        nanos next_due(nanos) override { return nanos::zero(); }
        std::size_t next_frame(std::span<std::byte> buf, frame_meta& m, nanos) override
        {
            std::copy(f.begin(), f.end(), buf.begin());
            m.csum_flags = netif::txf::csum_blank;
            return f.size();
        }
        void deliver(std::span<const std::byte>, const frame_meta&) override {}
        [[nodiscard]] bool tx_done() const noexcept override { return false; }
    } p;
    p.f.resize(netif::page_size * 2 + 100);
    for (std::size_t i = 0; i < p.f.size(); ++i)
        p.f[i] = std::byte((i * 13) & 0xff);
    std::vector<std::byte> scratch(netif::max_tx_size + 1);
    std::vector<std::vector<std::byte>> store(tx_frame_pages, std::vector<std::byte>(netif::page_size, std::byte{0xee}));
    std::vector<std::span<std::byte>> pages(store.begin(), store.end());
    frame_meta m;
    REQUIRE(p.next_frame_paged(pages, scratch, m, nanos{0}) == p.f.size());
    CHECK(m.csum_flags == netif::txf::csum_blank);
    CHECK(std::equal(store[0].begin(), store[0].end(), p.f.begin()));
    CHECK(std::equal(store[1].begin(), store[1].end(), p.f.begin() + netif::page_size));
    CHECK(std::equal(store[2].begin(), store[2].begin() + 100, p.f.begin() + 2 * netif::page_size));
    CHECK(store[2][100] == std::byte{0xee}); // nothing past the frame
    CHECK(store[3][0] == std::byte{0xee});
}

TEST_CASE("more pieces than a netif packet has are refused without writing")
{
    const std::vector<std::byte> f(netif::nr_slots_min + 1, std::byte{0x11});
    std::vector<std::span<const std::byte>> pieces;
    for (std::size_t i = 0; i < f.size(); ++i)
        pieces.push_back(std::span<const std::byte>(f).subspan(i, 1));
    // A descriptor that is not open: a write attempt would fail too, so the refusal must come
    // before it; a pipe tells the two apart.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    CHECK(write_vnet_fragments(fds[1], pieces, frame_meta{}) == vnet_write::refused);
    std::array<std::byte, 64> sink{};
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    CHECK(::read(fds[0], sink.data(), sink.size()) < 0); // nothing was written
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("read_vnet_frame into separate buffers: header decoded, frame in place, a cut frame dropped")
{
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) == 0);
    const auto f = frame(0x0800, 6, 5, 5, 300);
    vnet_header h;
    h.flags = 1;
    h.csum_start = 34;
    h.csum_offset = 16;
    std::array<std::byte, vnet_header_bytes> raw{};
    encode_vnet(h, raw);
    auto send_one = [&] {
        std::array<iovec, 2> iov{iovec{raw.data(), raw.size()}, iovec{const_cast<std::byte*>(f.data()), f.size()}};
        REQUIRE(::writev(sv[0], iov.data(), 2) == static_cast<ssize_t>(raw.size() + f.size()));
    };
    std::array<std::byte, vnet_header_bytes> hdr{};
    std::vector<std::byte> buf(f.size() + 1);
    send_one();
    const vnet_read r = read_vnet_frame(sv[1], hdr, buf);
    CHECK(r.st == vnet_read::status::frame);
    CHECK(r.frame_bytes == f.size());
    CHECK(std::equal(f.begin(), f.end(), buf.begin()));
    CHECK(r.meta.csum_flags == (netif::txf::csum_blank | netif::txf::data_validated));
    send_one();
    std::vector<std::byte> tight(f.size()); // exactly full: perhaps cut
    CHECK(read_vnet_frame(sv[1], hdr, tight).st == vnet_read::status::dropped);
    CHECK(read_vnet_frame(sv[1], hdr, buf).st == vnet_read::status::none); // empty
    ::close(sv[0]);
    ::close(sv[1]);
}

// ======================================================================== against a real TAP

namespace {

// Runs `body` on a thread in a network namespace of its own (unshare), which disappears with
// the thread and the descriptors opened in it; nothing outside is touched. Returns false (and
// says why) when the namespace cannot be had (not root).
template <class Body>
bool in_private_netns(Body&& body, std::string& error)
{
    bool entered = false;
    std::thread t([&] {
        if (::unshare(CLONE_NEWNET) != 0) {
            error = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
            return;
        }
        entered = true;
        // No IPv6 autoconfiguration frames on the TAP: the tests read every frame it carries.
        if (FILE* fp = std::fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w")) {
            std::fputs("1", fp);
            std::fclose(fp);
        }
        try {
            body();
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    t.join();
    return entered;
}

bool privileged()
{
    if (::geteuid() != 0 || ::access("/dev/net/tun", F_OK) != 0) {
        MESSAGE("skipped: needs root and /dev/net/tun (a TAP interface in a private namespace)");
        return false;
    }
    return true;
}

xnv::mem::unique_fd packet_socket(const std::string& ifname)
{
    xnv::mem::unique_fd s{::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL))};
    if (!s)
        throw std::runtime_error(std::string("packet socket: ") + std::strerror(errno));
    const int on = 1;
    if (::setsockopt(s.get(), SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) != 0)
        throw std::runtime_error(std::string("PACKET_VNET_HDR: ") + std::strerror(errno));
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error(std::string("bind packet socket: ") + std::strerror(errno));
    timeval tv{2, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

// The next frame the kernel received on the interface (not one it sent), with the
// virtio_net_hdr it describes it with.
struct seen_frame {
    vnet_header h{};
    std::vector<std::byte> bytes;
};
seen_frame receive_incoming(int s)
{
    std::vector<std::byte> buf(vnet_header_bytes + 70000);
    for (;;) {
        sockaddr_ll from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(s, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0)
            throw std::runtime_error(std::string("no frame arrived: ") + std::strerror(errno));
        if (from.sll_pkttype == PACKET_OUTGOING)
            continue;
        seen_frame out;
        out.h = decode_vnet(std::span<const std::byte, vnet_header_bytes>(buf.data(), vnet_header_bytes));
        out.bytes.assign(buf.begin() + vnet_header_bytes, buf.begin() + n);
        return out;
    }
}

// A TCP/IPv4 frame the kernel accepts as a TSO super-frame: consistent lengths, payload
// larger than the segment size, a pattern in the payload.
std::vector<std::byte> tcp_super_frame(std::size_t payload)
{
    auto f = frame(0x0800, 6, 5, 8, payload);
    const auto ip_len = static_cast<std::uint16_t>(f.size() - 14);
    f[14 + 2] = std::byte(ip_len >> 8);
    f[14 + 3] = std::byte(ip_len & 0xff);
    f[14 + 8] = std::byte{64};
    for (std::size_t i = 0; i < 6; ++i)
        f[i] = std::byte{0xff};
    for (std::size_t i = 14 + 20 + 32; i < f.size(); ++i)
        f[i] = std::byte((i * 7) & 0xff);
    return f;
}

} // namespace

TEST_CASE("a super-frame written in pieces reaches the kernel as the same frame with the same offloads")
{
    if (!privileged())
        return;
    const auto f = tcp_super_frame(20000);
    frame_meta m;
    m.csum_flags = netif::rxf::csum_blank | netif::rxf::data_validated;
    m.gso = netif::gso_info{netif::gso_type::tcpv4, 1448};
    vnet_write whole_w{}, pieces_w{}, short_head_w{};
    seen_frame whole, pieces, short_head;
    std::string error;
    const bool ran = in_private_netns(
        [&] {
            tap_config c;
            c.name = "xnvsg0";
            c.mtu = 1500;
            tap_device dev(c);
            xnv::mem::unique_fd fd = dev.take_queue(0);
            xnv::mem::unique_fd ps = packet_socket(dev.name());
            whole_w = write_vnet_frame(fd.get(), f, m);
            whole = receive_incoming(ps.get());
            // Pieces as netback fills pages: whole pages, the last one short.
            pieces_w = write_vnet_fragments(fd.get(), cut(f, {4096, 4096, 4096, 4096}), m);
            pieces = receive_incoming(ps.get());
            // The headers cut across three pieces.
            short_head_w = write_vnet_fragments(fd.get(), cut(f, {10, 30, 40, 4000}), m);
            short_head = receive_incoming(ps.get());
        },
        error);
    REQUIRE_MESSAGE(ran, error);
    REQUIRE_MESSAGE(error.empty(), error);
    CHECK(whole_w == vnet_write::written_gso);
    CHECK(pieces_w == vnet_write::written_gso);
    CHECK(short_head_w == vnet_write::written_gso);
    for (const seen_frame* s : {&whole, &pieces, &short_head}) {
        CHECK(s->bytes == f);
        CHECK(s->h.flags == 1); // NEEDS_CSUM
        CHECK(s->h.csum_start == 34);
        CHECK(s->h.csum_offset == 16);
        CHECK(s->h.gso_type == 1); // TCPV4
        CHECK(s->h.gso_size == 1448);
    }
}

TEST_CASE("the TAP port reads a frame straight into the caller's buffer or pages and is due again only when readable")
{
    if (!privileged())
        return;
    std::array<std::byte, 60> out{};
    for (std::size_t i = 0; i < 6; ++i)
        out[i] = std::byte{0xff};
    out[12] = std::byte{0x88};
    out[13] = std::byte{0xb5}; // local experimental EtherType
    for (std::size_t i = 14; i < out.size(); ++i)
        out[i] = std::byte(i);
    const nanos now{0};
    bool due_before = false, due_while_empty = true, due_after = false;
    std::size_t first = 0, second = 0, empty_read = 1, cut_read = 1;
    frame_meta m1, m2;
    std::vector<std::byte> buf(netif::max_tx_size + 1);
    std::vector<std::byte> got1, got2;
    tap_stats st{};
    std::string error;
    const bool ran = in_private_netns(
        [&] {
            tap_config c;
            c.name = "xnvrd0";
            tap_device dev(c);
            dev.set_offloads(tap_offloads{});
            tap_port port(dev.take_queue(0));
            xnv::mem::unique_fd ps = packet_socket(dev.name());
            auto send = [&] {
                // The packet socket speaks virtio_net_hdr too: an empty one first.
                std::array<std::byte, vnet_header_bytes> none{};
                std::array<iovec, 2> iov{iovec{none.data(), none.size()}, iovec{out.data(), out.size()}};
                if (::writev(ps.get(), iov.data(), 2) != static_cast<ssize_t>(none.size() + out.size()))
                    throw std::runtime_error(std::string("send: ") + std::strerror(errno));
            };
            // Nothing read yet: due, and the read finds nothing.
            due_before = port.next_due(now) == nanos::zero();
            empty_read = port.next_frame(buf, m1, now);
            due_while_empty = port.next_due(now) == nanos::zero();
            send();
            ::usleep(20000);
            due_after = port.next_due(now) == nanos::zero();
            first = port.next_frame(buf, m1, now);
            got1.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(first));
            send();
            ::usleep(20000);
            // Into pages, as netfront reads: the frame across three pieces.
            std::array<std::byte, 16> p0{}, p1{};
            std::vector<std::byte> p2(64);
            const std::array<std::span<std::byte>, 3> pages{p0, p1, p2};
            second = port.next_frame_paged(pages, {}, m2, now);
            got2.assign(p0.begin(), p0.end());
            got2.insert(got2.end(), p1.begin(), p1.end());
            got2.insert(got2.end(), p2.begin(), p2.begin() + static_cast<std::ptrdiff_t>(second - 32));
            // A frame that fills every piece may have been cut: dropped, counted, not returned.
            send();
            ::usleep(20000);
            std::array<std::byte, 20> q0{};
            std::array<std::byte, 40> q1{};
            const std::array<std::span<std::byte>, 2> tight{q0, q1};
            cut_read = port.next_frame_paged(tight, {}, m2, now);
            st = port.stats();
        },
        error);
    REQUIRE_MESSAGE(ran, error);
    REQUIRE_MESSAGE(error.empty(), error);
    CHECK(due_before);
    CHECK(empty_read == 0);
    CHECK_FALSE(due_while_empty);
    CHECK(due_after);
    CHECK(first == out.size());
    CHECK(std::equal(out.begin(), out.end(), got1.begin(), got1.end()));
    CHECK(second == out.size());
    CHECK(std::equal(out.begin(), out.end(), got2.begin(), got2.end()));
    CHECK_FALSE(m1.gso.present());
    CHECK(cut_read == 0);
    CHECK(st.read_frames == 2);
    CHECK(st.read_bytes == 2 * out.size());
    CHECK(st.read_dropped == 1);
}
