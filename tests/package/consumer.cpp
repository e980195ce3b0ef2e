// SPDX-License-Identifier: MIT
// A consumer of xnv as a package: builds a ring over its own memory and round-trips one entry.
#include <xnv/xnv.hpp>

#include <cstdio>
#include <vector>

int main()
{
    struct req { std::uint64_t v; };
    struct rsp { std::uint64_t v; };
    alignas(64) static std::byte page[4096];
    xnv::front_ring<req, rsp> front(xnv::ring_init, page);
    xnv::back_ring<req, rsp> back(page);
    if (!front.try_produce(req{42}))
        return 1;
    const bool notify = front.push();
    req r{};
    const auto got = back.try_consume(r);
    std::printf("xnv %d.%d.%d: notify=%d consumed=%u value=%llu\n", xnv::version_major, xnv::version_minor,
                xnv::version_patch, notify, got.count, static_cast<unsigned long long>(r.v));
    return (notify && got.count == 1 && r.v == 42) ? 0 : 1;
}
