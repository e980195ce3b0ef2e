// SPDX-License-Identifier: MIT
#pragma once

// Running the reference programs as child processes, without any test framework (the tests
// and the netback benchmark share it): child processes that are killed and reaped whatever
// happens (RAII, and PR_SET_PDEATHSIG should the parent itself die), a temporary directory
// removed afterwards, unique abstract socket names (nothing in the file system), a small JSON
// reader for the programs' summaries, and the resident memory of a process.

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace xnv::test {

// ------------------------------------------------------------------ temporary directory

class temp_dir {
public:
    temp_dir()
    {
        std::string tmpl = (std::filesystem::temp_directory_path() / "xnv-netback-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~temp_dir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

inline std::string read_text(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// An abstract-namespace socket name no other test (or test run) uses.
inline std::string unique_socket()
{
    static std::atomic<int> n{0};
    return "@xnv-test-" + std::to_string(::getpid()) + "-" + std::to_string(n.fetch_add(1));
}

// ------------------------------------------------------------------ child processes

/// A child process running a program with stdout and stderr in files. Killed (SIGKILL) and
/// reaped by the destructor unless it was waited for.
class child {
public:
    child(const std::vector<std::string>& argv, std::string out, std::string err)
        : out_(std::move(out)), err_(std::move(err))
    {
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0)
            throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            // Die with the test, whatever kills it.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            const int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            const int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
                ::_exit(127);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~child() { kill_now(); }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] bool running() const noexcept { return pid_ > 0 && !reaped_; }

    /// Wait up to `timeout` for the exit; returns the exit status, 128 + signal if killed by a
    /// signal, or -1 (after killing it) on timeout.
    int wait(std::chrono::milliseconds timeout)
    {
        if (reaped_)
            return status_;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int st = 0;
            const pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                reaped_ = true;
                status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return status_;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                kill_now();
                status_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    /// Whether it has exited (reaping it if so), without waiting.
    bool exited()
    {
        if (reaped_)
            return true;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) != pid_)
            return false;
        reaped_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
    }

    void signal(int sig) const noexcept
    {
        if (running())
            ::kill(pid_, sig);
    }

    void kill_now() noexcept
    {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
            reaped_ = true;
        }
    }

    [[nodiscard]] std::string out() const { return read_text(out_); }
    [[nodiscard]] std::string err() const { return read_text(err_); }

private:
    std::string out_;
    std::string err_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = -1;
};

/// Run a program to completion; returns its exit status, stdout and stderr.
struct run_result {
    int status = -1;
    std::string out;
    std::string err;
};
inline run_result run_program(const temp_dir& dir, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30))
{
    static std::atomic<int> n{0};
    const std::string tag = std::to_string(n.fetch_add(1));
    child c(argv, dir.file("run" + tag + ".out"), dir.file("run" + tag + ".err"));
    run_result r;
    r.status = c.wait(timeout);
    r.out = c.out();
    r.err = c.err();
    return r;
}

/// A "Name:  N kB" field of /proc/PID/status in KiB (e.g. "VmRSS", "RssShmem"), or -1 when
/// the process is gone or has no such field.
inline long proc_status_kib(pid_t pid, const std::string& field)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    const std::string key = field + ":";
    while (std::getline(in, line))
        if (line.rfind(key, 0) == 0)
            return std::strtol(line.c_str() + key.size(), nullptr, 10);
    return -1;
}

/// Resident memory of a process in KiB (VmRSS), or -1 when it is gone.
inline long vm_rss_kib(pid_t pid) { return proc_status_kib(pid, "VmRSS"); }

/// Wait until `path` exists and holds text (a summary being written), up to `timeout`.
inline bool wait_for_file(const std::string& path, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!read_text(path).empty())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

// ------------------------------------------------------------------ JSON

/// A parsed JSON value: enough of JSON for the programs' summaries.
struct json {
    std::variant<std::nullptr_t, bool, double, std::string, std::vector<json>, std::map<std::string, json>> v;

    [[nodiscard]] const json& operator[](const std::string& k) const
    {
        const auto* m = std::get_if<std::map<std::string, json>>(&v);
        if (m == nullptr)
            throw std::runtime_error("json: not an object (looking for '" + k + "')");
        auto it = m->find(k);
        if (it == m->end())
            throw std::runtime_error("json: no key '" + k + "'");
        return it->second;
    }
    [[nodiscard]] const json& operator[](std::size_t i) const { return std::get<std::vector<json>>(v).at(i); }
    [[nodiscard]] std::size_t size() const { return std::get<std::vector<json>>(v).size(); }
    [[nodiscard]] double num() const { return std::get<double>(v); }
    [[nodiscard]] std::uint64_t u() const { return static_cast<std::uint64_t>(std::get<double>(v)); }
    [[nodiscard]] bool b() const { return std::get<bool>(v); }
    [[nodiscard]] const std::string& s() const { return std::get<std::string>(v); }

    static json parse(const std::string& text)
    {
        std::size_t i = 0;
        json j = value(text, i);
        skip(text, i);
        if (i != text.size())
            throw std::runtime_error("json: trailing text");
        return j;
    }

private:
    static void skip(const std::string& t, std::size_t& i)
    {
        while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i])))
            ++i;
    }
    static void expect(const std::string& t, std::size_t& i, char c)
    {
        skip(t, i);
        if (i >= t.size() || t[i] != c)
            throw std::runtime_error(std::string("json: expected '") + c + "'");
        ++i;
    }
    static std::string str(const std::string& t, std::size_t& i)
    {
        expect(t, i, '"');
        std::string s;
        while (i < t.size() && t[i] != '"') {
            if (t[i] == '\\' && i + 1 < t.size()) {
                ++i;
                if (t[i] == 'u' && i + 4 < t.size()) {
                    s += static_cast<char>(std::stoi(t.substr(i + 1, 4), nullptr, 16));
                    i += 5;
                    continue;
                }
            }
            s += t[i++];
        }
        expect(t, i, '"');
        return s;
    }
    static json value(const std::string& t, std::size_t& i)
    {
        skip(t, i);
        if (i >= t.size())
            throw std::runtime_error("json: unexpected end");
        const char c = t[i];
        if (c == '{') {
            ++i;
            std::map<std::string, json> m;
            skip(t, i);
            if (i < t.size() && t[i] == '}') {
                ++i;
                return json{m};
            }
            for (;;) {
                std::string k = str(t, i);
                expect(t, i, ':');
                m.emplace(std::move(k), value(t, i));
                skip(t, i);
                if (i < t.size() && t[i] == ',') {
                    ++i;
                    continue;
                }
                expect(t, i, '}');
                return json{m};
            }
        }
        if (c == '[') {
            ++i;
            std::vector<json> a;
            skip(t, i);
            if (i < t.size() && t[i] == ']') {
                ++i;
                return json{a};
            }
            for (;;) {
                a.push_back(value(t, i));
                skip(t, i);
                if (i < t.size() && t[i] == ',') {
                    ++i;
                    continue;
                }
                expect(t, i, ']');
                return json{a};
            }
        }
        if (c == '"')
            return json{str(t, i)};
        if (t.compare(i, 4, "true") == 0) {
            i += 4;
            return json{true};
        }
        if (t.compare(i, 5, "false") == 0) {
            i += 5;
            return json{false};
        }
        if (t.compare(i, 4, "null") == 0) {
            i += 4;
            return json{nullptr};
        }
        std::size_t used = 0;
        const double d = std::stod(t.substr(i), &used);
        i += used;
        return json{d};
    }
};

inline json read_json(const std::string& path) { return json::parse(read_text(path)); }

} // namespace xnv::test
