// SPDX-License-Identifier: MIT
#pragma once

// Helpers for the control-channel tests: descriptor counting, fresh eventfds and memfds, raw
// frames built byte by byte (so malformed ones can be made), and sending them with any number
// of descriptors.

#include "control_message.hpp"

#include <xnv/mem/region.hpp>
#include <xnv/mem/unique_fd.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <sys/eventfd.h>
#include <sys/socket.h>

namespace xnv::test {

inline std::size_t open_fd_count()
{
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

inline mem::unique_fd new_eventfd()
{
    mem::unique_fd fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    if (!fd)
        throw std::runtime_error("eventfd failed");
    return fd;
}

/// Little-endian byte builder.
class bytes {
public:
    bytes& u8(std::uint8_t v)
    {
        b_.push_back(std::byte{v});
        return *this;
    }
    bytes& u16(std::uint16_t v) { return put(v, 2); }
    bytes& u32(std::uint32_t v) { return put(v, 4); }
    bytes& u64(std::uint64_t v) { return put(v, 8); }
    bytes& text(std::string_view s)
    {
        for (char c : s)
            b_.push_back(static_cast<std::byte>(c));
        return *this;
    }
    bytes& raw(std::span<const std::byte> s)
    {
        b_.insert(b_.end(), s.begin(), s.end());
        return *this;
    }
    /// A feature entry: key length, key, value length, value.
    bytes& feature(std::string_view key, std::initializer_list<std::uint8_t> value)
    {
        u8(static_cast<std::uint8_t>(key.size())).text(key).u8(static_cast<std::uint8_t>(value.size()));
        for (auto v : value)
            u8(v);
        return *this;
    }
    [[nodiscard]] const std::vector<std::byte>& get() const { return b_; }
    [[nodiscard]] std::size_t size() const { return b_.size(); }

private:
    bytes& put(std::uint64_t v, int n)
    {
        for (int i = 0; i < n; ++i)
            b_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
        return *this;
    }
    std::vector<std::byte> b_;
};

/// A frame with a correct header around `body`.
inline std::vector<std::byte> frame(std::uint16_t type, const bytes& body, std::uint16_t reserved = 0)
{
    bytes f;
    f.u32(static_cast<std::uint32_t>(body.size())).u16(type).u16(reserved).raw(body.get());
    return f.get();
}

/// A frame header as the protocol lays it out (u32 body length, u16 type, u16 reserved, all
/// little-endian) claiming `len` bytes of body, whatever follows.
inline std::vector<std::byte> frame_header(std::uint32_t len, std::uint16_t type)
{
    return bytes{}.u32(len).u16(type).u16(0).get();
}

/// Write `data` to `sock` with `nfds` fresh eventfds attached, straight through sendmsg: the
/// project's sender refuses what no message may carry, and the hostile cases need exactly that.
/// The sender's copies of the eventfds are closed on return.
inline void send_raw(int sock, const std::vector<std::byte>& data, std::size_t nfds)
{
    std::vector<mem::unique_fd> own;
    std::vector<int> fds;
    for (std::size_t i = 0; i < nfds; ++i) {
        own.push_back(new_eventfd());
        fds.push_back(own.back().get());
    }
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(nfds, 1)));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds != 0) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * nfds);
    }
    REQUIRE(::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
}

/// The encoding of `m`.
inline std::vector<std::byte> encoded(const example::control::message& m)
{
    std::array<std::byte, example::control::max_frame_bytes> buf;
    const std::size_t n = example::control::encode(m, buf);
    return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)};
}

} // namespace xnv::test

#include "control_session.hpp"

namespace xnv::test {

/// A shared-region layout for `queues` queues, each: TX ring page, RX ring page, then a TX and
/// an RX grant area of `refs` references and `pages` pages. Descriptors are left at -1.
struct region_plan {
    std::uint64_t bytes = 0;
    std::vector<example::control::queue_plan> queues;
};

inline region_plan plan_region(std::uint32_t queues, std::uint32_t refs = 16, std::uint32_t pages = 16)
{
    region_plan p;
    std::uint64_t off = 0;
    for (std::uint32_t i = 0; i < queues; ++i) {
        example::control::queue_plan q;
        q.tx_ring_offset = off;
        q.rx_ring_offset = off + 4096;
        off += 2 * 4096;
        q.tx_grants = {off, refs, pages};
        off += q.tx_grants.bytes();
        q.rx_grants = {off, refs, pages};
        off += q.rx_grants.bytes();
        p.queues.push_back(q);
    }
    p.bytes = off;
    return p;
}

} // namespace xnv::test
