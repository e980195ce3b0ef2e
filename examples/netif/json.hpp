// SPDX-License-Identifier: MIT
#pragma once

// A minimal streaming JSON writer for the programs' summaries: objects, arrays, numbers,
// strings (escaped), booleans. Produces compact, valid JSON; misuse is a logic error.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace xnv::example {

class json_writer {
public:
    json_writer& begin_object() { return open('{'); }
    json_writer& end_object() { return close('}'); }
    json_writer& begin_array() { return open('['); }
    json_writer& end_array() { return close(']'); }

    json_writer& key(std::string_view k)
    {
        comma();
        string(k);
        out_ += ':';
        after_key_ = true;
        return *this;
    }
    json_writer& value(std::string_view s)
    {
        comma();
        string(s);
        return *this;
    }
    json_writer& value(const char* s) { return value(std::string_view(s)); }
    json_writer& value(bool b)
    {
        comma();
        out_ += b ? "true" : "false";
        return *this;
    }
    template <class T>
        requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
    json_writer& value(T v)
    {
        comma();
        if constexpr (std::is_floating_point_v<T>) {
            if (!std::isfinite(v)) {
                out_ += "null"; // JSON has no NaN or infinity
                return *this;
            }
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
            out_ += buf;
        } else {
            out_ += std::to_string(v);
        }
        return *this;
    }
    template <class T>
    json_writer& field(std::string_view k, const T& v)
    {
        key(k);
        return value(v);
    }

    [[nodiscard]] const std::string& str() const noexcept { return out_; }

private:
    json_writer& open(char c)
    {
        comma();
        out_ += c;
        first_.push_back(true);
        return *this;
    }
    json_writer& close(char c)
    {
        out_ += c;
        first_.pop_back();
        return *this;
    }
    void comma()
    {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        if (!first_.empty()) {
            if (!first_.back())
                out_ += ',';
            first_.back() = false;
        }
    }
    void string(std::string_view s)
    {
        out_ += '"';
        for (char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                out_ += '\\';
                out_ += ch;
            } else if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out_ += buf;
            } else {
                out_ += ch;
            }
        }
        out_ += '"';
    }

    std::string out_;
    std::vector<bool> first_;
    bool after_key_ = false;
};

} // namespace xnv::example
