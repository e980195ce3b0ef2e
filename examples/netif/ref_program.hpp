// SPDX-License-Identifier: MIT
#pragma once

// Process plumbing shared by the reference programs: signals as a descriptor, periodic timers,
// writing the summary file, CPU lists on the command line.

#include <xnv/mem/unique_fd.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace xnv::example {

/// Block SIGINT, SIGTERM and SIGHUP in this thread (and the threads it starts afterwards) and
/// return a descriptor that becomes readable when one arrives; SIGPIPE is ignored (a peer
/// that vanished is seen as a hang-up instead).
/// @throws std::system_error
[[nodiscard]] inline mem::unique_fd termination_signals()
{
    std::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "blocking signals");
    mem::unique_fd fd{::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)};
    if (!fd)
        throw std::system_error(errno, std::generic_category(), "signalfd");
    return fd;
}

/// The signal waiting on a `termination_signals` descriptor (0 if none).
inline int take_signal(int fd) noexcept
{
    signalfd_siginfo si{};
    if (::read(fd, &si, sizeof si) != static_cast<ssize_t>(sizeof si))
        return 0;
    return static_cast<int>(si.ssi_signo);
}

/// A timer descriptor readable every `period`.
/// @throws std::system_error
[[nodiscard]] inline mem::unique_fd periodic_timer(std::chrono::nanoseconds period)
{
    mem::unique_fd fd{::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)};
    if (!fd)
        throw std::system_error(errno, std::generic_category(), "timerfd_create");
    itimerspec its{};
    its.it_interval.tv_sec = static_cast<time_t>(period.count() / 1'000'000'000);
    its.it_interval.tv_nsec = static_cast<long>(period.count() % 1'000'000'000);
    its.it_value = its.it_interval;
    if (::timerfd_settime(fd.get(), 0, &its, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "timerfd_settime");
    return fd;
}

/// Expirations of a timer since the last call (0 if none).
inline std::uint64_t take_ticks(int fd) noexcept
{
    std::uint64_t n = 0;
    if (::read(fd, &n, sizeof n) != static_cast<ssize_t>(sizeof n))
        return 0;
    return n;
}

/// Write `text` (and a newline) to `path`, replacing it.
/// @throws std::system_error naming the file
inline void write_file(const std::string& path, std::string_view text)
{
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr)
        throw std::system_error(errno, std::generic_category(), "cannot write " + path);
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fputc('\n', f) != EOF;
    const int err = errno;
    if (std::fclose(f) != 0 || !ok)
        throw std::system_error(ok ? errno : err, std::generic_category(), "cannot write " + path);
}

/// Parse "0,1,3" into CPU numbers.
/// @throws std::invalid_argument naming what is wrong
[[nodiscard]] inline std::vector<unsigned> parse_cpu_list(std::string_view s)
{
    std::vector<unsigned> cpus;
    std::size_t i = 0;
    while (i <= s.size()) {
        const std::size_t comma = s.find(',', i);
        const std::string_view item = s.substr(i, comma == std::string_view::npos ? s.size() - i : comma - i);
        if (item.empty() || item.size() > 4 || item.find_first_not_of("0123456789") != std::string_view::npos)
            throw std::invalid_argument("a CPU list is numbers separated by commas (0,1), got '" + std::string(s) +
                                        "'");
        cpus.push_back(static_cast<unsigned>(std::stoul(std::string(item))));
        if (comma == std::string_view::npos)
            break;
        i = comma + 1;
    }
    return cpus;
}

} // namespace xnv::example
