// SPDX-License-Identifier: MIT
// Writes the seed corpora of the fuzz targets: for each target, inputs in its format (described
// at the top of its source) that reach its interesting states directly — valid rings and
// messages, the wrap of the 32-bit indices, full and empty rings, and one input per kind of
// hostile peer the target judges — so that a short fuzzing run starts deep instead of at the
// first byte.
//
//   xnv_fuzz_make_corpus <corpus-dir>           write corpus/<target>/<seed> (overwriting)
//   xnv_fuzz_make_corpus --check <corpus-dir>   exit 1 if any seed is missing or differs
//
// The output is a pure function of this file: no randomness, no clock.

#include "control_message.hpp"

#include <xnv/mem/grant_table.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/wire/netif.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace xnv::netif;

// ------------------------------------------------------------------ byte building

class bytes {
public:
    bytes& u8(std::uint32_t v)
    {
        b_.push_back(static_cast<std::uint8_t>(v));
        return *this;
    }
    bytes& u16(std::uint32_t v) { return le(v, 2); }
    bytes& u32(std::uint32_t v) { return le(v, 4); }
    bytes& u64(std::uint64_t v) { return le(v, 8); }
    template <class T> bytes& raw(const T& v)
    {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
        b_.insert(b_.end(), p, p + sizeof v);
        return *this;
    }
    bytes& append(std::span<const std::uint8_t> s)
    {
        b_.insert(b_.end(), s.begin(), s.end());
        return *this;
    }
    bytes& append(const bytes& o) { return append(o.view()); }
    bytes& zeros(std::size_t n)
    {
        b_.insert(b_.end(), n, 0);
        return *this;
    }
    [[nodiscard]] std::size_t size() const { return b_.size(); }
    [[nodiscard]] std::span<const std::uint8_t> view() const { return b_; }
    [[nodiscard]] std::vector<std::uint8_t>& vec() { return b_; }
    void put_u32_at(std::size_t off, std::uint32_t v)
    {
        for (int i = 0; i < 4; ++i)
            b_[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
    }
    template <class T> void put_at(std::size_t off, const T& v)
    {
        std::memcpy(b_.data() + off, &v, sizeof v);
    }

private:
    bytes& le(std::uint64_t v, int n)
    {
        for (int i = 0; i < n; ++i)
            b_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    std::vector<std::uint8_t> b_;
};

struct seed {
    std::string target;
    std::string name;
    std::vector<std::uint8_t> data;
};

std::vector<seed> seeds;

void add(std::string_view target, std::string_view name, bytes b)
{
    seeds.push_back({std::string(target), std::string(name), std::move(b.vec())});
}

// ------------------------------------------------------------------ ring_consumer

namespace ring_seeds {

// Script steps (ring_consumer.cpp, enum op): low nibble operation, high nibble argument.
enum op : std::uint8_t {
    pending = 0,
    consume,
    drain,
    try_consume,
    discard,
    final_check,
    produce,
    peek_release,
    peer_index_delta,
    peer_index_abs,
    peer_rewrite_slot,
    wait_spin,
    reserve_commit,
    peer_event,
    publish_unpublished,
    wait_futex,
};
constexpr std::uint8_t step(op o, std::uint32_t arg = 0)
{
    return static_cast<std::uint8_t>(o | (arg << 4));
}

struct shape {
    bool padded;
    bool back;
    bool rx;
};

// A page image of `slots` slots whose header words are offsets from start (config bit 3):
// the peer's producer index `peer_prod` entries ahead, our own at 0, events at 1, and every slot
// filled with a recognisable pattern.
bytes image(const shape& s, std::uint32_t slots, std::uint32_t peer_prod, std::uint32_t own_prod = 0)
{
    const std::size_t header = s.padded ? xnv::layout::padded::header_bytes : xnv::layout::xen_abi::header_bytes;
    const std::size_t slot = s.rx ? 8 : 12;
    bytes b;
    b.zeros(header);
    for (std::size_t i = 0; i < slots * slot; ++i)
        b.u8(static_cast<std::uint32_t>(i * 7 + 1));
    const std::size_t req_prod = 0, req_event = s.padded ? 64 : 4, rsp_prod = s.padded ? 128 : 8,
                      rsp_event = s.padded ? 192 : 12;
    b.put_u32_at(s.back ? req_prod : rsp_prod, peer_prod);
    b.put_u32_at(s.back ? rsp_prod : req_prod, own_prod);
    b.put_u32_at(req_event, 1);
    b.put_u32_at(rsp_event, 1);
    return b;
}

void add_ring(std::string_view name, const shape& s, std::uint32_t start, std::span<const std::uint8_t> script,
              const bytes& img, bool relative = true)
{
    bytes b;
    b.u8((s.padded ? 1u : 0u) | (s.back ? 2u : 0u) | (s.rx ? 4u : 0u) | (relative ? 8u : 0u));
    b.u32(start);
    b.u16(static_cast<std::uint32_t>(script.size()));
    b.append(script);
    b.append(img);
    add("ring_consumer", name, std::move(b));
}

std::string shape_name(const shape& s)
{
    return std::string(s.back ? "back" : "front") + (s.padded ? "_padded" : "_xen") + (s.rx ? "_rx" : "_tx");
}

void make()
{
    for (int k = 0; k < 8; ++k) {
        const shape s{(k & 1) != 0, (k & 2) != 0, (k & 4) != 0};
        const std::string n = shape_name(s);
        if (s.back) {
            // A frontend published 40 requests: consume them in batches, answer, re-arm.
            const std::vector<std::uint8_t> serve = {
                step(pending),        step(consume, 3),      step(produce, 8 | 4),     step(try_consume),
                step(peek_release, 2), step(drain, 7),        step(produce, 8 | 7),     step(reserve_commit, 5),
                step(publish_unpublished, 1), step(final_check), step(wait_futex, 1), step(pending),
                step(discard, 15),    step(final_check, 3),  step(wait_spin),
            };
            add_ring(n + "_serve", s, 0, serve, image(s, 256, 40));
            add_ring(n + "_wrap", s, 0xFFFFFFF0u, serve, image(s, 256, 40));
            // A full ring (every slot published), then one more than a ring: overrun.
            add_ring(n + "_full", s, 0x7FFFFFF0u, serve, image(s, 256, 256));
            add_ring(n + "_overrun", s, 5, serve, image(s, 256, 257));
            // The index moves backwards after being seen.
            const std::vector<std::uint8_t> back = {step(pending), step(consume, 1), step(peer_index_delta),
                                                    0xFF,          0xFF,             0xFF,
                                                    0xFF,          step(pending),    step(consume),
                                                    step(peer_index_delta), 4,       0,
                                                    0,             0,                step(pending)};
            add_ring(n + "_backwards", s, 100, back, image(s, 256, 8));
            // A small ring of 4 slots that wraps many times while it is served.
            std::vector<std::uint8_t> small;
            for (int r = 0; r < 12; ++r) {
                small.push_back(step(peer_index_delta));
                small.insert(small.end(), {4, 0, 0, 0});
                small.push_back(step(drain, 2));
                small.push_back(step(produce, 8 | 4));
            }
            add_ring(n + "_small_wrapping", s, 0xFFFFFFFAu, small, image(s, 4, 0));
            // Slots rewritten after publication: each copy must be what the slot held then.
            const std::size_t slot = s.rx ? 8 : 12;
            std::vector<std::uint8_t> rewrite = {step(pending), step(peer_rewrite_slot), 1, 0};
            rewrite.insert(rewrite.end(), slot, 0xAB);
            rewrite.insert(rewrite.end(), {step(consume, 3), step(peer_rewrite_slot), 2, 0});
            rewrite.insert(rewrite.end(), slot, 0x09);
            rewrite.push_back(step(drain, 15));
            add_ring(n + "_rewrite", s, 0, rewrite, image(s, 256, 6));
        } else {
            // Requests go out, responses come back, some of them beyond what was asked.
            const std::vector<std::uint8_t> cycle = {
                step(produce, 8 | 7), step(produce, 8 | 7), step(reserve_commit, 6), step(publish_unpublished, 1),
                step(pending),        step(consume, 3),      step(try_consume),         step(peek_release, 1),
                step(drain, 4),       step(final_check),     step(peer_event),          0x30, 0, 0, 0,
                step(produce, 8 | 3), step(wait_futex, 2),   step(discard, 15),         step(pending),
            };
            add_ring(n + "_cycle", s, 0, cycle, image(s, 256, 12));
            add_ring(n + "_wrap", s, 0xFFFFFFFCu, cycle, image(s, 256, 12));
            add_ring(n + "_overrun", s, 77, cycle, image(s, 256, 30));
            // Responses published before any request: overrun at once.
            const std::vector<std::uint8_t> early = {step(pending), step(consume, 15), step(produce, 8 | 2),
                                                     step(pending)};
            add_ring(n + "_unasked", s, 3, early, image(s, 256, 1));
            // A full ring of requests answered in full, across the wrap, on an 8-slot ring.
            std::vector<std::uint8_t> full = {step(produce, 8 | 7), step(produce, 8 | 1), step(peer_index_delta), 8, 0,
                                              0, 0, step(drain, 15), step(final_check)};
            add_ring(n + "_full_small", s, 0xFFFFFFFDu, full, image(s, 8, 0));
        }
        // Memory too small for one slot, and an image with absolute (random-looking) indices.
        add_ring(n + "_no_slot", s, 0, std::vector<std::uint8_t>{step(pending)},
                 image(s, 0, 0));
        bytes abs = image(s, 64, 0);
        abs.put_u32_at(0, 0x12345678u);
        abs.put_u32_at(8, 0x9ABCDEF0u);
        add_ring(n + "_absolute", s, 0x12345670u,
                 std::vector<std::uint8_t>{step(pending), step(drain, 15), step(produce, 8 | 7), step(final_check)},
                 abs, false);
    }
}

} // namespace ring_seeds

// ------------------------------------------------------------------ output

bool write_or_check(const std::filesystem::path& root, bool check)
{
    namespace fs = std::filesystem;
    bool ok = true;
    for (const seed& s : seeds) {
        const fs::path p = root / s.target / s.name;
        if (check) {
            std::ifstream in(p, std::ios::binary);
            const std::vector<char> got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (!in.is_open() || got.size() != s.data.size() ||
                !std::equal(got.begin(), got.end(), s.data.begin(),
                            [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; })) {
                std::fprintf(stderr, "corpus: %s/%s is %s: run xnv_fuzz_make_corpus tests/fuzz/corpus\n",
                             s.target.c_str(), s.name.c_str(), in.is_open() ? "out of date" : "missing");
                ok = false;
            }
        } else {
            fs::create_directories(p.parent_path());
            std::ofstream out(p, std::ios::binary | std::ios::trunc);
            out.write(reinterpret_cast<const char*>(s.data.data()), static_cast<std::streamsize>(s.data.size()));
            if (!out) {
                std::fprintf(stderr, "corpus: cannot write %s\n", p.c_str());
                ok = false;
            }
        }
    }
    return ok;
}

} // namespace

int main(int argc, char** argv)
{
    const bool check = argc == 3 && std::string_view(argv[1]) == "--check";
    if (argc != 2 && !check) {
        std::fprintf(stderr, "usage: xnv_fuzz_make_corpus [--check] <corpus-dir>\n");
        return 2;
    }
    ring_seeds::make();
    const bool ok = write_or_check(argv[argc - 1], check);
    std::printf("corpus: %zu seeds %s\n", seeds.size(), check ? (ok ? "current" : "NOT current") : "written");
    return ok ? 0 : 1;
}
