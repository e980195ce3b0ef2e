// SPDX-License-Identifier: MIT
// xnv's netif wire types and the Xen-ABI ring layout, byte for byte against Xen's own headers
// (xen/io/netif.h, xen/io/ring.h): struct sizes and field offsets, flag and status values, the
// shared ring header, slot sizes and the entry count for several ring sizes, and the bytes an
// xnv endpoint writes as read through Xen's macros.

#include <doctest/doctest.h>

// The Xen header preamble (barrier definitions) is shared with the ring interoperability tests.
#include "../ring/support.hpp"
#include "../ring/xen_headers.hpp"

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif.hpp>

#include <array>
#include <cstddef>
#include <cstring>

namespace {

namespace nf = xnv::netif;
using xen_abi = xnv::layout::xen_abi;

// Same offset and same size for one field of an xnv type and its Xen counterpart.
#define CHECK_SAME_FIELD(XNV, XEN, FIELD)                                                                              \
    do {                                                                                                               \
        CHECK(offsetof(XNV, FIELD) == offsetof(XEN, FIELD));                                                           \
        CHECK(sizeof(XNV::FIELD) == sizeof(XEN::FIELD));                                                               \
    } while (0)

TEST_CASE("netif TX request and response match Xen's structs")
{
    CHECK(sizeof(nf::tx_request) == sizeof(netif_tx_request_t));
    CHECK(alignof(nf::tx_request) == alignof(netif_tx_request_t));
    CHECK_SAME_FIELD(nf::tx_request, netif_tx_request_t, gref);
    CHECK_SAME_FIELD(nf::tx_request, netif_tx_request_t, offset);
    CHECK_SAME_FIELD(nf::tx_request, netif_tx_request_t, flags);
    CHECK_SAME_FIELD(nf::tx_request, netif_tx_request_t, id);
    CHECK_SAME_FIELD(nf::tx_request, netif_tx_request_t, size);

    CHECK(sizeof(nf::tx_response) == sizeof(netif_tx_response_t));
    CHECK(alignof(nf::tx_response) == alignof(netif_tx_response_t));
    CHECK_SAME_FIELD(nf::tx_response, netif_tx_response_t, id);
    CHECK_SAME_FIELD(nf::tx_response, netif_tx_response_t, status);
}

TEST_CASE("netif RX request and response match Xen's structs")
{
    CHECK(sizeof(nf::rx_request) == sizeof(netif_rx_request_t));
    CHECK(alignof(nf::rx_request) == alignof(netif_rx_request_t));
    CHECK_SAME_FIELD(nf::rx_request, netif_rx_request_t, id);
    CHECK_SAME_FIELD(nf::rx_request, netif_rx_request_t, pad);
    CHECK_SAME_FIELD(nf::rx_request, netif_rx_request_t, gref);

    CHECK(sizeof(nf::rx_response) == sizeof(netif_rx_response_t));
    CHECK(alignof(nf::rx_response) == alignof(netif_rx_response_t));
    CHECK_SAME_FIELD(nf::rx_response, netif_rx_response_t, id);
    CHECK_SAME_FIELD(nf::rx_response, netif_rx_response_t, offset);
    CHECK_SAME_FIELD(nf::rx_response, netif_rx_response_t, flags);
    CHECK_SAME_FIELD(nf::rx_response, netif_rx_response_t, status);
}

TEST_CASE("netif extra-info segments match Xen's struct, union members included")
{
    CHECK(sizeof(nf::extra_info) == sizeof(netif_extra_info_t));
    CHECK(alignof(nf::extra_info) == alignof(netif_extra_info_t));
    CHECK_SAME_FIELD(nf::extra_info, netif_extra_info_t, type);
    CHECK_SAME_FIELD(nf::extra_info, netif_extra_info_t, flags);
    CHECK_SAME_FIELD(nf::extra_info, netif_extra_info_t, u);
    CHECK(offsetof(nf::extra_info, u.gso.size) == offsetof(netif_extra_info_t, u.gso.size));
    CHECK(offsetof(nf::extra_info, u.gso.type) == offsetof(netif_extra_info_t, u.gso.type));
    CHECK(offsetof(nf::extra_info, u.gso.pad) == offsetof(netif_extra_info_t, u.gso.pad));
    CHECK(offsetof(nf::extra_info, u.gso.features) == offsetof(netif_extra_info_t, u.gso.features));
    CHECK(offsetof(nf::extra_info, u.mcast.addr) == offsetof(netif_extra_info_t, u.mcast.addr));
    CHECK(sizeof(nf::extra_info{}.u.mcast.addr) == sizeof(netif_extra_info_t{}.u.mcast.addr));
    CHECK(offsetof(nf::extra_info, u.hash.type) == offsetof(netif_extra_info_t, u.hash.type));
    CHECK(offsetof(nf::extra_info, u.hash.algorithm) == offsetof(netif_extra_info_t, u.hash.algorithm));
    CHECK(offsetof(nf::extra_info, u.hash.value) == offsetof(netif_extra_info_t, u.hash.value));
    CHECK(sizeof(nf::extra_info{}.u.hash.value) == sizeof(netif_extra_info_t{}.u.hash.value));
    CHECK(offsetof(nf::extra_info, u.pad) == offsetof(netif_extra_info_t, u.pad));
    CHECK(sizeof(nf::extra_info{}.u.pad) == sizeof(netif_extra_info_t{}.u.pad));
    // Xen requires an extra-info segment to fit in both a TX request and an RX response slot.
    CHECK(sizeof(nf::extra_info) <= sizeof(nf::tx_request));
    CHECK(sizeof(nf::extra_info) <= sizeof(nf::rx_response));
}

TEST_CASE("netif flags, types and status codes have Xen's values")
{
    CHECK(nf::txf::csum_blank == NETTXF_csum_blank);
    CHECK(nf::txf::data_validated == NETTXF_data_validated);
    CHECK(nf::txf::more_data == NETTXF_more_data);
    CHECK(nf::txf::extra_info == NETTXF_extra_info);

    CHECK(nf::rxf::data_validated == NETRXF_data_validated);
    CHECK(nf::rxf::csum_blank == NETRXF_csum_blank);
    CHECK(nf::rxf::more_data == NETRXF_more_data);
    CHECK(nf::rxf::extra_info == NETRXF_extra_info);
    CHECK(nf::rxf::gso_prefix == NETRXF_gso_prefix);

    CHECK(nf::extra_type::none == XEN_NETIF_EXTRA_TYPE_NONE);
    CHECK(nf::extra_type::gso == XEN_NETIF_EXTRA_TYPE_GSO);
    CHECK(nf::extra_type::mcast_add == XEN_NETIF_EXTRA_TYPE_MCAST_ADD);
    CHECK(nf::extra_type::mcast_del == XEN_NETIF_EXTRA_TYPE_MCAST_DEL);
    CHECK(nf::extra_type::hash == XEN_NETIF_EXTRA_TYPE_HASH);
    CHECK(nf::extra_type::max == XEN_NETIF_EXTRA_TYPE_MAX);
    CHECK(nf::extra_flag_more == XEN_NETIF_EXTRA_FLAG_MORE);

    CHECK(nf::gso_type::none == XEN_NETIF_GSO_TYPE_NONE);
    CHECK(nf::gso_type::tcpv4 == XEN_NETIF_GSO_TYPE_TCPV4);
    CHECK(nf::gso_type::tcpv6 == XEN_NETIF_GSO_TYPE_TCPV6);

    CHECK(nf::status::dropped == NETIF_RSP_DROPPED);
    CHECK(nf::status::error == NETIF_RSP_ERROR);
    CHECK(nf::status::okay == NETIF_RSP_OKAY);
    CHECK(nf::status::null == NETIF_RSP_NULL);

    CHECK(nf::nr_slots_min == XEN_NETIF_NR_SLOTS_MIN);
    CHECK(nf::max_tx_size == XEN_NETIF_MAX_TX_SIZE);
}

TEST_CASE("the xen_abi layout puts the indices and the ring where Xen's shared ring does")
{
    CHECK(xen_abi::req_prod_offset == offsetof(netif_tx_sring_t, req_prod));
    CHECK(xen_abi::req_event_offset == offsetof(netif_tx_sring_t, req_event));
    CHECK(xen_abi::rsp_prod_offset == offsetof(netif_tx_sring_t, rsp_prod));
    CHECK(xen_abi::rsp_event_offset == offsetof(netif_tx_sring_t, rsp_event));
    CHECK(xen_abi::req_prod_offset == offsetof(netif_rx_sring_t, req_prod));
    CHECK(xen_abi::req_event_offset == offsetof(netif_rx_sring_t, req_event));
    CHECK(xen_abi::rsp_prod_offset == offsetof(netif_rx_sring_t, rsp_prod));
    CHECK(xen_abi::rsp_event_offset == offsetof(netif_rx_sring_t, rsp_event));
    CHECK(xen_abi::header_bytes == offsetof(netif_tx_sring_t, ring));
    CHECK(xen_abi::header_bytes == offsetof(netif_rx_sring_t, ring));
    CHECK(sizeof(RING_IDX) == sizeof(std::uint32_t));
    // The private union and padding fill the rest of the 64-byte header.
    CHECK(offsetof(netif_tx_sring_t, pvt) == 16);
    CHECK(offsetof(netif_tx_sring_t, __pad) + sizeof(netif_tx_sring_t{}.__pad) == xen_abi::header_bytes);
}

TEST_CASE("ring slots are Xen's sring entries")
{
    CHECK(sizeof(xnv::ring_slot<nf::tx_request, nf::tx_response>) == sizeof(union netif_tx_sring_entry));
    CHECK(sizeof(xnv::ring_slot<nf::rx_request, nf::rx_response>) == sizeof(union netif_rx_sring_entry));
    CHECK(alignof(xnv::ring_slot<nf::tx_request, nf::tx_response>) == alignof(union netif_tx_sring_entry));
    CHECK(alignof(xnv::ring_slot<nf::rx_request, nf::rx_response>) == alignof(union netif_rx_sring_entry));
}

TEST_CASE("ring_entries_for gives Xen's __RING_SIZE for every ring size")
{
    alignas(4096) static std::array<std::byte, 1u << 17> page{};
    auto* tx = reinterpret_cast<netif_tx_sring_t*>(page.data());
    auto* rx = reinterpret_cast<netif_rx_sring_t*>(page.data());
    for (std::size_t bytes :
         {std::size_t{128}, std::size_t{1024}, std::size_t{2048}, std::size_t{4096}, std::size_t{3 * 4096},
          std::size_t{8192}, std::size_t{16384}, std::size_t{65536}, std::size_t{1u << 17}}) {
        CAPTURE(bytes);
        CHECK(xnv::ring_entries_for<nf::tx_request, nf::tx_response>(bytes) == __CONST_RING_SIZE(netif_tx, bytes));
        CHECK(xnv::ring_entries_for<nf::rx_request, nf::rx_response>(bytes) == __CONST_RING_SIZE(netif_rx, bytes));
        CHECK(xnv::ring_entries_for<nf::tx_request, nf::tx_response>(bytes) == __RING_SIZE(tx, bytes));
        CHECK(xnv::ring_entries_for<nf::rx_request, nf::rx_response>(bytes) == __RING_SIZE(rx, bytes));
    }
    CHECK(__CONST_RING_SIZE(netif_tx, 4096) == 256);
    CHECK(__CONST_RING_SIZE(netif_rx, 4096) == 256);
}

TEST_CASE("xnv's ring_init writes the same header bytes as SHARED_RING_INIT")
{
    xnv_test::aligned_region ours(4096), theirs(4096);
    std::memset(ours.data(), 0xCC, 4096);
    std::memset(theirs.data(), 0xCC, 4096);
    xnv::front_ring<nf::tx_request, nf::tx_response> front(xnv::ring_init, ours.span());
    auto* s = reinterpret_cast<netif_tx_sring_t*>(theirs.data());
    SHARED_RING_INIT(s);
    CHECK(std::memcmp(ours.data(), theirs.data(), xen_abi::header_bytes) == 0);
    CHECK(front.size() == 256);
}

TEST_CASE("entries written by an xnv endpoint read the same through Xen's macros, and back")
{
    xnv_test::aligned_region mem(4096);
    xnv::front_ring<nf::tx_request, nf::tx_response> front(xnv::ring_init, mem.span(), 0xFFFFFFF0u);
    auto* s = reinterpret_cast<netif_tx_sring_t*>(mem.data());
    netif_tx_back_ring_t back{};
    xen_attach(&back, s, 0xFFFFFFF0u, 4096);
    REQUIRE(RING_SIZE(&back) == front.size());

    for (std::uint16_t i = 0; i < 40; ++i) {
        nf::tx_request q{};
        q.gref = 0x01000000u + i;
        q.offset = static_cast<std::uint16_t>(i * 3);
        q.flags = static_cast<std::uint16_t>(i % 2 ? nf::txf::more_data : nf::txf::csum_blank);
        q.id = static_cast<std::uint16_t>(1000 + i);
        q.size = static_cast<std::uint16_t>(60 + i);
        REQUIRE(front.try_produce(q));
    }
    (void)front.push();
    CHECK(s->req_prod == 0xFFFFFFF0u + 40u);
    CHECK(RING_HAS_UNCONSUMED_REQUESTS(&back) == 40);
    std::uint32_t mismatches = 0;
    for (std::uint16_t i = 0; i < 40; ++i) {
        netif_tx_request_t q;
        RING_COPY_REQUEST(&back, back.req_cons, &q);
        back.req_cons++;
        mismatches += q.gref != 0x01000000u + i || q.offset != i * 3 ||
                      q.flags != (i % 2 ? NETTXF_more_data : NETTXF_csum_blank) || q.id != 1000 + i || q.size != 60 + i;
        netif_tx_response_t* r = RING_GET_RESPONSE(&back, back.rsp_prod_pvt);
        r->id = q.id;
        r->status = i % 5 ? NETIF_RSP_OKAY : NETIF_RSP_ERROR;
        back.rsp_prod_pvt++;
    }
    int notify = 0;
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
    CHECK(notify == 1); // rsp_event was left at start + 1 by ring_init
    std::array<nf::tx_response, 64> got{};
    REQUIRE(front.consume(got).count == 40);
    for (std::uint16_t i = 0; i < 40; ++i) {
        mismatches += got[i].id != 1000 + i;
        mismatches += got[i].status != (i % 5 ? nf::status::okay : nf::status::error);
    }
    CHECK(mismatches == 0);
    CHECK(front.consumed() == 0xFFFFFFF0u + 40u);
}

} // namespace
