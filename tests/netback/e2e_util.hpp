// SPDX-License-Identifier: MIT
#pragma once

// Helpers for the tests that run the real xnv-netback and xnv-netfront (process_util.hpp has
// the process, file and JSON plumbing): a netback on a fresh socket, netfronts connected to it,
// and the verdict every clean run must have.

#include "counts.hpp"
#include "process_util.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace xnv::test {

// ------------------------------------------------------------------ the programs

inline const std::string netback_bin = XNV_NETBACK_BIN;
inline const std::string netfront_bin = XNV_NETFRONT_BIN;

/// A running xnv-netback on a fresh abstract socket, with --quiet and --json; `extra` adds
/// options. The constructor returns once it listens.
///
/// Unless `extra` sets `--rx-expire-ms`, frames may wait 60 s for a receiver's buffers instead
/// of netback's default 1 s: the expiry is a drop the protocol allows, and on a loaded machine
/// (sanitizer builds, other work) a receiving netfront can lose its CPU for longer than a
/// second, which would turn a run that must be lossless into a counted loss. The tests of the
/// expiry itself set it explicitly.
class netback_process {
public:
    netback_process(const temp_dir& dir, const std::string& name, std::vector<std::string> extra = {})
        : socket_(unique_socket()), json_(dir.file(name + ".json"))
    {
        std::vector<std::string> argv{netback_bin, "--socket", socket_, "--quiet", "--json", json_};
        if (std::find(extra.begin(), extra.end(), "--rx-expire-ms") == extra.end())
            argv.insert(argv.end(), {"--rx-expire-ms", "60000"});
        argv.insert(argv.end(), extra.begin(), extra.end());
        c_ = std::make_unique<child>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (c_->err().find("listening on") == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline || c_->exited())
                throw std::runtime_error("xnv-netback did not start listening: " + c_->err());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    [[nodiscard]] const std::string& socket() const noexcept { return socket_; }
    [[nodiscard]] const std::string& json_path() const noexcept { return json_; }
    [[nodiscard]] child& proc() noexcept { return *c_; }
    /// SIGTERM, wait for the exit, return the summary.
    json stop(std::chrono::milliseconds timeout = std::chrono::seconds(60))
    {
        c_->signal(SIGTERM);
        return finish(timeout);
    }
    /// Wait for the exit (e.g. --exit-when-idle), return the summary.
    json finish(std::chrono::milliseconds timeout = std::chrono::seconds(60))
    {
        const int st = c_->wait(timeout);
        INFO("xnv-netback stderr: " << c_->err());
        REQUIRE(st == 0);
        return read_json(json_);
    }

private:
    std::string socket_;
    std::string json_;
    std::unique_ptr<child> c_;
};

/// A running xnv-netfront connected to `nb`, with --quiet and --json.
class netfront_process {
public:
    netfront_process(const temp_dir& dir, const netback_process& nb, const std::string& name,
                     std::vector<std::string> extra)
        : json_(dir.file(name + ".json"))
    {
        std::vector<std::string> argv{netfront_bin, "--socket", nb.socket(), "--quiet", "--json", json_};
        argv.insert(argv.end(), extra.begin(), extra.end());
        c_ = std::make_unique<child>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
    }
    [[nodiscard]] child& proc() noexcept { return *c_; }
    /// Wait for the exit with status `expected`, return the summary.
    json finish(std::chrono::milliseconds timeout, int expected = 0)
    {
        const int st = c_->wait(timeout);
        INFO("xnv-netfront stderr: " << c_->err());
        REQUIRE(st == expected);
        return read_json(json_);
    }

private:
    std::string json_;
    std::unique_ptr<child> c_;
};

/// The checks every clean run must pass: nothing lost, duplicated, reordered or damaged.
inline void check_clean(const json& j)
{
    CHECK(j["lost"].u() == 0);
    CHECK(j["duplicated"].u() == 0);
    CHECK(j["reordered"].u() == 0);
    CHECK(j["stale"].u() == 0);
    CHECK(j["corrupted"].u() == 0);
    CHECK(j["truncated"].u() == 0);
    CHECK(j["rx_drops"].u() == 0);
    CHECK(j["tx_errors"].u() == 0);
    CHECK(j["clean"].b());
}

} // namespace xnv::test
