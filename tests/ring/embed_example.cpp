// SPDX-License-Identifier: MIT
// The embedding example quoted in docs/ring.md, built and run with the tests so the document
// cannot drift from the API: a netif TX ring in one page of a memfd, a front end in this
// process and a back end in a forked child, both sleeping on futexes when idle.

#include <doctest/doctest.h>

#include <xnv/ring/ring.hpp>
#include <xnv/wire/netif.hpp>

#include <chrono>
#include <cstdint>
#include <span>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

// --- begin example
using req = xnv::netif::tx_request;
using rsp = xnv::netif::tx_response;

// The back end: answer every request; disconnect on a protocol violation.
[[noreturn]] void serve(std::span<std::byte> page, std::uint32_t requests)
{
    xnv::back_ring<req, rsp> back(page); // attach: the front end initialised the header
    xnv::wait::futex w;
    req in[64];
    for (std::uint32_t served = 0; served < requests;) {
        xnv::ring_count c = back.wait_pending(w, std::chrono::seconds(5));
        if (c.ok())
            c = back.consume(in); // each request copied out of the page exactly once
        if (!c.ok() || c.count == 0)
            _exit(1); // hostile or silent front end: give up on it
        for (std::uint32_t i = 0; i < c.count; ++i)
            (void)back.try_produce(rsp{in[i].id, xnv::netif::status::okay});
        served += c.count;
        if (back.push()) // publish the responses; wake the front end only if it asked
            back.wake_peer(w);
    }
    _exit(0);
}

// The front end: send `requests` requests, collect the responses; false on any failure.
bool tx_over_memfd(std::uint32_t requests)
{
    const std::size_t bytes = 4096; // one page: 256 netif TX slots, as in Xen
    const int fd = memfd_create("xnv-tx-ring", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, bytes) != 0)
        return false;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return false;
    const std::span<std::byte> page(static_cast<std::byte*>(p), bytes);

    xnv::front_ring<req, rsp> front(xnv::ring_init, page); // SHARED_RING_INIT + FRONT_RING_INIT
    const pid_t child = fork();
    if (child == 0)
        serve(page, requests);

    xnv::wait::futex w;
    std::uint32_t sent = 0, answered = 0;
    bool ok = child > 0;
    while (ok && answered < requests) {
        while (sent < requests && front.try_produce(req{0, 0, 0, static_cast<std::uint16_t>(sent), 60}))
            ++sent;
        if (front.push())
            front.wake_peer(w);
        xnv::ring_count c = front.wait_pending(w, std::chrono::seconds(5)); // final_check, then sleep
        rsp out[64];
        if (c.ok())
            c = front.consume(out);
        ok = c.ok() && c.count != 0;
        for (std::uint32_t i = 0; ok && i < c.count; ++i, ++answered)
            ok = out[i].id == static_cast<std::uint16_t>(answered) && out[i].status == xnv::netif::status::okay;
    }
    int status = 0;
    if (child > 0 && waitpid(child, &status, 0) != child)
        ok = false;
    munmap(p, bytes);
    return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
// --- end example

TEST_CASE("the embedding example in docs/ring.md runs")
{
    CHECK(tx_over_memfd(10'000));
}

} // namespace
