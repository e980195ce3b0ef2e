// SPDX-License-Identifier: MIT
#pragma once

// A small command-line parser for the reference programs: typed options with ranges and
// choices, generated --help, and one clear error message per mistake (never a silent default).

#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace xnv::example {

/// A command-line mistake, worded for the user.
struct cli_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class cli {
public:
    cli(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

    /// An integer option `--name N` in [lo, hi].
    cli& integer(std::string name, std::uint64_t& target, std::uint64_t lo, std::uint64_t hi, std::string help)
    {
        add(std::move(name), "N", std::move(help) + " (" + std::to_string(lo) + ".." + std::to_string(hi) +
                                      ", default " + std::to_string(target) + ")",
            [&target, lo, hi](const std::string& flag, std::string_view v) {
                std::uint64_t x = 0;
                auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
                if (ec != std::errc{} || p != v.data() + v.size() || x < lo || x > hi)
                    throw cli_error(flag + " expects an integer in " + std::to_string(lo) + ".." +
                                    std::to_string(hi) + ", got '" + std::string(v) + "'");
                target = x;
            });
        return *this;
    }

    /// A string option `--name VALUE`; when `choices` is not empty, VALUE must be one of them.
    cli& text(std::string name, std::string& target, std::vector<std::string> choices, std::string help)
    {
        std::string h = std::move(help);
        if (!choices.empty()) {
            h += " (one of:";
            for (auto& c : choices)
                h += " " + c;
            h += ")";
        }
        if (!target.empty())
            h += " (default " + target + ")";
        add(std::move(name), "VALUE", std::move(h),
            [&target, choices = std::move(choices)](const std::string& flag, std::string_view v) {
                if (v.empty())
                    throw cli_error(flag + " expects a non-empty value");
                if (!choices.empty()) {
                    bool ok = false;
                    for (auto& c : choices)
                        ok = ok || c == v;
                    if (!ok) {
                        std::string all;
                        for (auto& c : choices)
                            all += (all.empty() ? "" : ", ") + c;
                        throw cli_error(flag + " must be one of " + all + ", got '" + std::string(v) + "'");
                    }
                }
                target = std::string(v);
            });
        return *this;
    }

    /// A flag `--name` that sets `target` to true.
    cli& flag(std::string name, bool& target, std::string help)
    {
        opts_.push_back({std::move(name), "", std::move(help), [&target](const std::string&, std::string_view) {
                             target = true;
                         }});
        return *this;
    }

    /// An option with a custom parser that throws cli_error on a bad value.
    cli& custom(std::string name, std::string metavar, std::string help,
                std::function<void(const std::string&, std::string_view)> parse)
    {
        add(std::move(name), std::move(metavar), std::move(help), std::move(parse));
        return *this;
    }

    /// Parses argv. Returns false when --help was given (the help text is in `help()`).
    /// @throws cli_error on an unknown option, a missing or bad value.
    bool parse(int argc, const char* const* argv)
    {
        for (int i = 1; i < argc; ++i) {
            const std::string_view a(argv[i]);
            if (a == "--help" || a == "-h")
                return false;
            std::string name(a);
            std::optional<std::string> inline_value;
            if (auto eq = name.find('='); eq != std::string::npos && name.starts_with("--")) {
                inline_value = name.substr(eq + 1);
                name.resize(eq);
            }
            const option* o = find(name);
            if (!o)
                throw cli_error("unknown option '" + std::string(a) + "' (see --help)");
            if (o->metavar.empty()) {
                if (inline_value)
                    throw cli_error(name + " takes no value");
                o->parse(name, {});
                continue;
            }
            if (inline_value) {
                o->parse(name, *inline_value);
            } else {
                if (i + 1 >= argc)
                    throw cli_error(name + " needs a value");
                o->parse(name, argv[++i]);
            }
        }
        return true;
    }

    [[nodiscard]] std::string help() const
    {
        std::string h = "usage: " + program_ + " [options]\n" + summary_ + "\n\noptions:\n";
        for (const auto& o : opts_) {
            std::string left = "  " + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
            if (left.size() < 28)
                left.resize(28, ' ');
            else
                left += "\n" + std::string(28, ' ');
            h += left + o.help + "\n";
        }
        h += "  --help                    this text\n";
        return h;
    }

private:
    struct option {
        std::string name, metavar, help;
        std::function<void(const std::string&, std::string_view)> parse;
    };
    void add(std::string name, std::string metavar, std::string help,
             std::function<void(const std::string&, std::string_view)> parse)
    {
        opts_.push_back({std::move(name), std::move(metavar), std::move(help), std::move(parse)});
    }
    const option* find(const std::string& name) const
    {
        for (const auto& o : opts_)
            if (o.name == name)
                return &o;
        return nullptr;
    }

    std::string program_, summary_;
    std::vector<option> opts_;
};

} // namespace xnv::example
