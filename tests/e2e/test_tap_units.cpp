// SPDX-License-Identifier: MIT
// The TAP port's translation between virtio_net_hdr and netif's checksum flags and GSO slot.
#include "ref_tap.hpp"
#include "ref_uplink.hpp"

#include <doctest/doctest.h>

#include <xnv/wire/netif.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

using namespace xnv::example;
namespace netif = xnv::netif;

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
