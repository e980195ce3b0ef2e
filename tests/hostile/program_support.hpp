// SPDX-License-Identifier: MIT
#pragma once

// Helpers for the fault tests that run the real xnv-netback and xnv-netfront processes
// (e2e_util.hpp starts them the usual way): resources counted through /proc, a netback on a
// socket chosen by the test (so a second one can take over the first one's address), and a
// netfront whose per-second status line shows its sink's running count.

#include "e2e_util.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace xnv::test {

/// Open descriptors of `pid` (0 when it is gone).
inline std::size_t open_fds(pid_t pid)
{
    std::size_t n = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
         it.increment(ec))
        ++n;
    return n;
}

/// Mappings of memfds in `pid` (a netfront's shared region shows as "/memfd:...").
inline std::size_t memfd_mappings(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);)
        n += line.find("/memfd:") != std::string::npos ? 1 : 0;
    return n;
}

/// Poll `p` every 10 ms until it holds or `limit` passes.
template <class Pred>
bool within(std::chrono::milliseconds limit, Pred p)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!p()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

/// xnv-netback listening on `socket` (--quiet, --json DIR/NAME.json); returns once it listens.
inline std::unique_ptr<child> start_netback_at(const temp_dir& dir, const std::string& name, const std::string& socket,
                                               std::vector<std::string> extra = {})
{
    std::vector<std::string> argv{netback_bin, "--socket", socket, "--quiet", "--json", dir.file(name + ".json")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto c = std::make_unique<child>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (c->err().find("listening on") == std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline || c->exited())
            throw std::runtime_error("xnv-netback did not start listening: " + c->err());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return c;
}

/// xnv-netfront on `socket` with its status line on (one a second, DIR/NAME.out) and
/// --json DIR/NAME.json.
inline std::unique_ptr<child> start_netfront_at(const temp_dir& dir, const std::string& name,
                                                const std::string& socket, std::vector<std::string> extra)
{
    std::vector<std::string> argv{netfront_bin, "--socket", socket, "--json", dir.file(name + ".json")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<child>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
}

/// The sink's count of test frames received in the last status line of `out` (0 before the
/// first line).
inline std::uint64_t status_received(const std::string& out)
{
    const std::string key = " received ";
    const auto at = out.rfind(key);
    if (at == std::string::npos)
        return 0;
    return std::strtoull(out.c_str() + at + key.size(), nullptr, 10);
}

/// Occurrences of `needle` in `text`.
inline std::size_t count_of(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
        ++n;
    return n;
}

} // namespace xnv::test
