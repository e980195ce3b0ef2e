// SPDX-License-Identifier: MIT
// Fuzz target control_message: the control channel's message parser
// (examples/netif/control_message.{hpp,cpp}) given an arbitrary frame and a fuzzer-chosen number
// of real descriptors, as a peer could send them with SCM_RIGHTS.
//
// Input:
//   byte 0      bits 0-3: descriptors sent with the frame (0..15; the list holds 8, the rest are
//               closed as the receive path closes them); bits 4-5: their kind (0 eventfd,
//               1 /dev/null, 2 memfd, 3 a mix)
//   the rest    the frame: header (u32 body length, u16 type, u16 reserved) and body
//
// Invariants (any violation aborts):
//   - no descriptor leaks: the process has as many open descriptors after each input as before;
//   - a rejected frame has every descriptor closed; an accepted one holds exactly the
//     descriptors its type carries (memory 1, queue 2 per event channel, others none), each one
//     of those sent, open, in the order sent, and all the others are closed;
//   - framing errors are the ones that apply (short header, oversize, truncated or trailing
//     body, reserved bits, unknown type), descriptors on a message that carries none are
//     refused, and a parse error is never one of the negotiation or connection codes;
//   - an accepted message encodes back to the same frame (features: to a frame that parses to
//     the same features, since the encoder orders the keys).

#include "fuzz_support.hpp"

#include "control_message.hpp"

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <variant>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

namespace {

namespace control = xnv::example::control;
using xnv::fuzz::input;

std::size_t open_fds()
{
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

bool is_open(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int make_fd(unsigned kind, unsigned i)
{
    switch (kind == 3 ? i % 3 : kind) {
    case 0:
        return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    case 1:
        return ::open("/dev/null", O_RDWR | O_CLOEXEC);
    default:
        return ::memfd_create("xnv-fuzz", MFD_CLOEXEC);
    }
}

std::uint32_t le(std::span<const std::uint8_t> f, std::size_t off, std::size_t n)
{
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
        v |= std::uint32_t{f[off + i]} << (8 * i);
    return v;
}

// What the frame's header alone says, from the format in control_message.hpp.
struct framing {
    bool header_short = false;
    bool oversize = false;
    bool body_short = false;
    bool body_long = false;
    bool reserved = false;
    std::uint16_t type = 0;
    [[nodiscard]] bool ok() const noexcept
    {
        return !header_short && !oversize && !body_short && !body_long && !reserved;
    }
};

framing frame_of(std::span<const std::uint8_t> f)
{
    framing r;
    if (f.size() < control::header_bytes) {
        r.header_short = true;
        return r;
    }
    const std::uint32_t len = le(f, 0, 4);
    r.type = static_cast<std::uint16_t>(le(f, 4, 2));
    r.oversize = len > control::max_body_bytes;
    r.body_short = f.size() - control::header_bytes < len;
    r.body_long = f.size() - control::header_bytes > len;
    r.reserved = le(f, 6, 2) != 0;
    return r;
}

bool known_type(std::uint16_t t)
{
    return t >= static_cast<std::uint16_t>(control::message_type::hello) &&
           t <= static_cast<std::uint16_t>(control::message_type::error);
}

bool carries_fds(std::uint16_t t)
{
    return t == static_cast<std::uint16_t>(control::message_type::memory) ||
           t == static_cast<std::uint16_t>(control::message_type::queue);
}

void check_rejection(const framing& fr, control::control_error e, std::size_t fds)
{
    using control::control_error;
    XNV_FUZZ_CHECK(e != control_error::none);
    // Only what a frame can be wrong in: framing, descriptors, field values.
    XNV_FUZZ_CHECK(static_cast<std::uint16_t>(e) < static_cast<std::uint16_t>(control_error::unexpected_message));
    XNV_FUZZ_CHECK(e != control_error::fds_truncated);
    if (fr.header_short) {
        XNV_FUZZ_CHECK(e == control_error::truncated);
        return;
    }
    if (!fr.ok()) {
        // One of the framing faults the header shows (an unknown type may be noticed first).
        XNV_FUZZ_CHECK((e == control_error::oversize && fr.oversize) ||
                       (e == control_error::truncated && fr.body_short) ||
                       (e == control_error::trailing_bytes && fr.body_long) ||
                       (e == control_error::reserved_not_zero && fr.reserved) ||
                       (e == control_error::unknown_type && !known_type(fr.type)));
        return;
    }
    if (!known_type(fr.type)) {
        XNV_FUZZ_CHECK(e == control_error::unknown_type);
        return;
    }
    if (!carries_fds(fr.type) && fds != 0)
        XNV_FUZZ_CHECK(e == control_error::unexpected_fds);
    XNV_FUZZ_CHECK(e != control_error::oversize && e != control_error::unknown_type);
}

void check_acceptance(const framing& fr, const control::message& m, std::span<const int> sent,
                      std::span<const std::uint8_t> frame)
{
    XNV_FUZZ_CHECK(fr.ok() && known_type(fr.type));
    XNV_FUZZ_CHECK(static_cast<std::uint16_t>(control::type_of(m)) == fr.type);
    const control::fd_refs held = control::fds_of(m);
    std::size_t want = 0;
    if (std::holds_alternative<control::memory_msg>(m))
        want = 1;
    else if (const auto* q = std::get_if<control::queue_msg>(&m))
        want = q->fd_count();
    XNV_FUZZ_CHECK(held.count == want && sent.size() == want);
    for (std::size_t i = 0; i < held.count; ++i)
        XNV_FUZZ_CHECK(held.fds[i] == sent[i] && is_open(held.fds[i]));

    alignas(8) std::array<std::byte, control::max_frame_bytes> out{};
    const std::size_t n = control::encode(m, out);
    XNV_FUZZ_CHECK(n >= control::header_bytes && n <= control::max_frame_bytes);
    if (const auto* f = std::get_if<control::features_msg>(&m)) {
        control::parse_result again = control::parse(std::span<const std::byte>(out.data(), n), control::fd_list{});
        XNV_FUZZ_CHECK(again.ok());
        const auto* g = std::get_if<control::features_msg>(&again.msg);
        XNV_FUZZ_CHECK(g != nullptr && g->features == f->features);
    } else {
        XNV_FUZZ_CHECK(n == frame.size() && std::memcmp(out.data(), frame.data(), n) == 0);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    input in(data, size);
    const std::uint8_t b = in.u8();
    const unsigned count = b & 0x0Fu;
    const unsigned kind = (b >> 4) & 3u;
    const std::span<const std::uint8_t> frame = in.rest();
    const framing fr = frame_of(frame);

    const std::size_t before = open_fds();
    {
        control::fd_list fds;
        std::array<int, 16> sent{};
        std::size_t kept = 0;
        for (unsigned i = 0; i < count; ++i) {
            const int fd = make_fd(kind, i);
            XNV_FUZZ_CHECK(fd >= 0);
            const bool taken = fds.push(fd);
            // The list holds max_fds_per_message; one more is closed at once.
            XNV_FUZZ_CHECK(taken == (i < control::max_fds_per_message));
            if (taken)
                sent[kept++] = fd;
            else
                XNV_FUZZ_CHECK(!is_open(fd));
        }
        XNV_FUZZ_CHECK(fds.size() == kept);

        control::parse_result r = control::parse(std::as_bytes(frame), std::move(fds));
        const control::fd_refs held = r.ok() ? control::fds_of(r.msg) : control::fd_refs{};
        if (r.ok()) {
            check_acceptance(fr, r.msg, std::span<const int>(sent.data(), kept), frame);
        } else {
            check_rejection(fr, r.error, kept);
            XNV_FUZZ_CHECK(held.count == 0);
        }
        // Every descriptor sent and not held by the message is closed already.
        for (std::size_t i = 0; i < kept; ++i) {
            bool in_message = false;
            for (std::size_t j = 0; j < held.count; ++j)
                in_message = in_message || held.fds[j] == sent[i];
            XNV_FUZZ_CHECK(in_message == is_open(sent[i]));
        }
    }
    // The message, and with it whatever it held, is gone.
    XNV_FUZZ_CHECK(open_fds() == before);
    return 0;
}
