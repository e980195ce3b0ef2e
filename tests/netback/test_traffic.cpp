// SPDX-License-Identifier: MIT
#include "traffic.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace xnv::example;

namespace {
constexpr std::array<std::uint8_t, 6> dst{2, 0, 0, 0, 0, 2}, src{2, 0, 0, 0, 0, 1};
}

TEST_CASE("traffic: generated frames check out, for every payload size class")
{
    std::vector<std::byte> buf(max_frame_bytes);
    for (std::size_t payload : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{1500},
                                std::size_t{4096}, std::size_t{9000}, max_payload_bytes}) {
        CAPTURE(payload);
        const std::size_t len = build_test_frame(buf, dst, src, 3, 12345, payload);
        REQUIRE(len == test_frame_overhead + payload);
        test_header h{};
        CHECK(check_test_frame({buf.data(), len}, h) == frame_verdict::ok);
        CHECK(h.seq == 12345);
        CHECK(h.flow == 3);
        CHECK(h.len == payload);
    }
}

TEST_CASE("traffic: too large a payload or too small a buffer builds nothing")
{
    std::vector<std::byte> buf(100);
    CHECK(build_test_frame(buf, dst, src, 0, 0, 200) == 0);
    std::vector<std::byte> big(max_frame_bytes + 10);
    CHECK(build_test_frame(big, dst, src, 0, 0, max_payload_bytes + 1) == 0);
}

TEST_CASE("traffic: every single flipped byte is detected")
{
    std::vector<std::byte> buf(2000);
    const std::size_t len = build_test_frame(buf, dst, src, 1, 77, 1000);
    test_header h{};
    for (std::size_t i = eth_header_bytes; i < len; ++i) {
        auto copy = buf;
        copy[i] ^= std::byte{0x5a};
        const auto v = check_test_frame({copy.data(), len}, h);
        CAPTURE(i);
        CHECK(v != frame_verdict::ok);
    }
}

TEST_CASE("traffic: truncated, padded and foreign frames are told apart")
{
    std::vector<std::byte> buf(2000);
    const std::size_t len = build_test_frame(buf, dst, src, 1, 5, 500);
    test_header h{};
    CHECK(check_test_frame({buf.data(), len - 1}, h) == frame_verdict::truncated);
    CHECK(check_test_frame({buf.data(), len + 1}, h) == frame_verdict::truncated);
    CHECK(check_test_frame({buf.data(), 20}, h) == frame_verdict::not_test_frame);
    buf[12] = std::byte{0x08};
    CHECK(check_test_frame({buf.data(), len}, h) == frame_verdict::not_test_frame);
}

TEST_CASE("traffic: a sequence replayed with a different seq fails the checksum")
{
    std::vector<std::byte> buf(2000);
    const std::size_t len = build_test_frame(buf, dst, src, 1, 5, 64);
    std::uint64_t other = 6;
    std::memcpy(buf.data() + eth_header_bytes + offsetof(test_header, seq), &other, 8);
    test_header h{};
    CHECK(check_test_frame({buf.data(), len}, h) == frame_verdict::corrupted);
}

TEST_CASE("sequence tracker: in order, loss, late arrival, duplicate and stale")
{
    sequence_tracker t;
    for (std::uint64_t s = 0; s < 10; ++s)
        t.record(s);
    CHECK(t.lost() == 0);
    t.record(15); // 10..14 missing
    CHECK(t.lost() == 5);
    t.record(12); // late
    CHECK(t.lost() == 4);
    CHECK(t.reordered() == 1);
    t.record(12);
    CHECK(t.duplicated() == 1);
    t.record(3);
    CHECK(t.duplicated() == 2);
    t.record(15 + sequence_tracker::window + 10);
    t.record(11); // older than the window
    CHECK(t.stale() == 1);
    CHECK(t.received() == 16);
}

TEST_CASE("sequence tracker: a long in-order run far beyond the window stays clean")
{
    sequence_tracker t;
    for (std::uint64_t s = 0; s < 5 * sequence_tracker::window + 3; ++s)
        t.record(s);
    CHECK(t.lost() == 0);
    CHECK(t.duplicated() == 0);
    CHECK(t.reordered() == 0);
    t.record(5 * sequence_tracker::window); // already seen, inside the window
    CHECK(t.duplicated() == 1);
}
