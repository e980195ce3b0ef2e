// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Recorded traces: a small CSV format read with strict parsing, so a malformed file is
/// rejected with the line number and the reason instead of being half-read.
///
/// The format (docs/sim.md has the full description):
///
///     # comment lines start with '#'; blank lines are ignored
///     time_ns,source,bytes,packets        <- optional header, before any record
///     0,0,1500
///     1200,1,9000,6
///
/// - Each record is 3 or 4 comma-separated unsigned decimal integers: the arrival time in
///   nanoseconds, the source number (0..65535), the bytes that arrive, and optionally how many
///   packets carry them (default 1). No spaces, signs or other characters.
/// - `time_ns` never decreases from one record to the next; `bytes` is 1..4294967295;
///   `packets` is 1..65535 and at most `bytes`.
/// - Lines end with LF; a CR before the LF is accepted.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <xnv/clock.hpp>
#include <xnv/sim/traffic.hpp>

namespace xnv::sim {

/// Why a trace was rejected: the 1-based line number (0 when the file could not be read at
/// all) and a sentence naming the problem.
struct trace_error {
    std::size_t line = 0;
    std::string reason;

    [[nodiscard]] std::string message() const
    {
        return line == 0 ? reason : "line " + std::to_string(line) + ": " + reason;
    }
};

class trace_result;
[[nodiscard]] inline trace_result parse_trace(std::string_view text);

/// A parsed trace: arrivals in time order. `sources()` is one more than the largest source
/// number used (a simulator gives the trace that many sources).
class trace {
public:
    static constexpr std::uint32_t max_sources = 65536;

    trace() = default;

    [[nodiscard]] const std::vector<arrival>& arrivals() const noexcept { return arrivals_; }
    [[nodiscard]] std::uint32_t sources() const noexcept { return sources_; }
    [[nodiscard]] bool empty() const noexcept { return arrivals_.empty(); }

private:
    friend trace_result parse_trace(std::string_view text);
    std::vector<arrival> arrivals_;
    std::uint32_t sources_ = 0;
};

/// Either a trace or the reason it was rejected.
class trace_result {
public:
    explicit trace_result(trace t) : value_(std::move(t)) {}
    explicit trace_result(trace_error e) : error_(std::move(e)) {}

    [[nodiscard]] bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    /// @pre ok()
    [[nodiscard]] const trace& value() const& noexcept { return *value_; }
    /// @pre ok()
    [[nodiscard]] trace&& value() && noexcept { return std::move(*value_); }
    /// @pre !ok()
    [[nodiscard]] const trace_error& error() const noexcept { return error_; }

private:
    std::optional<trace> value_;
    trace_error error_;
};

namespace detail {
// Parses a whole field as an unsigned decimal integer no larger than `max`; on failure
// returns a reason naming the field.
[[nodiscard]] inline std::optional<std::string> parse_field(std::string_view field, std::string_view name,
                                                            std::uint64_t max, std::uint64_t& out)
{
    const auto quoted = [&] { return "'" + std::string(field.substr(0, 40)) + (field.size() > 40 ? "...'" : "'"); };
    if (field.empty())
        return "field '" + std::string(name) + "' is empty";
    std::uint64_t v = 0;
    for (const char c : field) {
        if (c < '0' || c > '9')
            return "field '" + std::string(name) + "' is not an unsigned decimal integer: " + quoted();
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (v > (max - digit) / 10)
            return "field '" + std::string(name) + "' is out of range (at most " + std::to_string(max) +
                   "): " + quoted();
        v = v * 10 + digit;
    }
    out = v;
    return std::nullopt;
}
} // namespace detail

/// Parses a trace from its text. Never throws for malformed input (only `std::bad_alloc`):
/// the first malformed line is reported with its number and the reason.
inline trace_result parse_trace(std::string_view text)
{
    trace t;
    std::size_t line_no = 0;
    bool seen_record = false, seen_header = false;
    std::uint64_t last_time = 0;
    const auto fail = [&](std::string reason) { return trace_result(trace_error{line_no, std::move(reason)}); };

    while (!text.empty()) {
        ++line_no;
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty() || line.front() == '#')
            continue;
        if (line == "time_ns,source,bytes" || line == "time_ns,source,bytes,packets") {
            if (seen_record || seen_header)
                return fail("a header line is only allowed once, before the first record");
            seen_header = true;
            continue;
        }
        std::string_view fields[4];
        std::size_t n = 0;
        for (std::string_view rest = line;;) {
            const std::size_t comma = rest.find(',');
            if (n == 4)
                return fail("expected 3 or 4 comma-separated fields (time_ns,source,bytes[,packets]), found more");
            fields[n++] = rest.substr(0, comma);
            if (comma == std::string_view::npos)
                break;
            rest = rest.substr(comma + 1);
        }
        if (n < 3)
            return fail("expected 3 or 4 comma-separated fields (time_ns,source,bytes[,packets]), found " +
                        std::to_string(n));
        std::uint64_t time = 0, source = 0, bytes = 0, packets = 1;
        // Times up to 2^62 ns keep every later sum in the simulator far from overflow.
        if (auto e = detail::parse_field(fields[0], "time_ns", std::uint64_t{1} << 62, time))
            return fail(*e);
        if (auto e = detail::parse_field(fields[1], "source", trace::max_sources - 1, source))
            return fail(*e);
        if (auto e = detail::parse_field(fields[2], "bytes", std::numeric_limits<std::uint32_t>::max(), bytes))
            return fail(*e);
        if (n == 4)
            if (auto e = detail::parse_field(fields[3], "packets", std::numeric_limits<std::uint16_t>::max(), packets))
                return fail(*e);
        if (bytes == 0)
            return fail("bytes must be at least 1");
        if (packets == 0)
            return fail("packets must be at least 1");
        if (packets > bytes)
            return fail("packets (" + std::to_string(packets) + ") exceed bytes (" + std::to_string(bytes) +
                        "): every packet carries at least one byte");
        if (seen_record && time < last_time)
            return fail("time_ns goes backwards: " + std::to_string(time) + " after " + std::to_string(last_time));
        seen_record = true;
        last_time = time;
        const auto src = static_cast<std::uint32_t>(source);
        t.arrivals_.push_back(arrival{nanos(static_cast<std::int64_t>(time)), src, bytes, static_cast<std::uint32_t>(packets)});
        t.sources_ = std::max(t.sources_, src + 1);
    }
    return trace_result(std::move(t));
}

/// Reads and parses a trace file; a file that cannot be read is reported with line 0.
[[nodiscard]] inline trace_result load_trace(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return trace_result(trace_error{0, "cannot open trace file '" + path.string() + "'"});
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        return trace_result(trace_error{0, "cannot read trace file '" + path.string() + "'"});
    return parse_trace(text.view());
}

} // namespace xnv::sim
