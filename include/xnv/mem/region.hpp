// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Shared-memory regions that two processes map: memfd-backed (the default: nothing is left in
/// the file system, the size can be sealed), named POSIX shm (for tools that want a name), and
/// a region received from a peer as a file descriptor, mapped only after its type, size, seals
/// and access mode are checked. RAII and move-only: the mapping, the descriptor and (for a
/// named region its creator made) the name go away with the object.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <asm-generic/hugetlb_encode.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <xnv/mem/unique_fd.hpp>

namespace xnv::mem {

/// The page size the region is backed with. Huge pages come from the kernel's hugetlb pool
/// (`vm.nr_hugepages`); a region asking for them fails with a clear error when the pool is
/// empty instead of silently falling back.
enum class page_policy : std::uint8_t {
    normal,  ///< base pages (4 KiB on x86-64)
    huge_2m, ///< 2 MiB hugetlb pages (`MFD_HUGETLB | MFD_HUGE_2MB`)
    huge_1g, ///< 1 GiB hugetlb pages (`MFD_HUGETLB | MFD_HUGE_1GB`)
};

/// Seals a memfd region's creator applies once the size is set.
enum class sealing : std::uint8_t {
    /// `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`: the size can never change, so a peer that
    /// maps the region can rely on it (a shrink would turn its accesses into SIGBUS).
    size_locked,
    /// No seals (for a peer that must resize the region itself).
    none,
};

/// How a region is mapped.
enum class region_access : std::uint8_t { read_only, read_write };

/// What a mapper demands of a received descriptor's seals.
enum class seal_requirement : std::uint8_t {
    /// `F_SEAL_SHRINK` must be set: the sender cannot truncate the file under the mapping.
    size_locked,
    /// Accept unsealed files (named POSIX shm cannot be sealed); the sender is then trusted
    /// not to truncate it.
    none,
};

/// Options for creating a memfd region.
struct region_options {
    page_policy pages = page_policy::normal;
    sealing seals = sealing::size_locked;
    /// The memfd's name, shown in /proc/PID/fd and /proc/PID/maps (no file-system presence).
    const char* debug_name = "xnv-region";
};

/// What a descriptor received from a peer must satisfy before it is mapped.
struct map_options {
    /// The exact size required; 0 accepts any size in `[min_bytes, max_bytes]`.
    std::size_t expected_bytes = 0;
    std::size_t min_bytes = 1;
    std::size_t max_bytes = std::size_t{1} << 32;
    region_access access = region_access::read_write;
    seal_requirement seals = seal_requirement::size_locked;
};

/// Why a received descriptor was not mapped.
enum class region_error : std::uint8_t {
    none = 0,
    bad_fd,            ///< not an open descriptor (fstat failed)
    not_shared_memory, ///< not a regular file on tmpfs/hugetlbfs (a socket, an eventfd, a disk file)
    size_mismatch,     ///< size differs from `map_options::expected_bytes`
    too_small,         ///< size below `map_options::min_bytes`
    too_large,         ///< size above `map_options::max_bytes`
    not_sealed,        ///< `F_SEAL_SHRINK` required but not set
    write_sealed,      ///< read-write mapping asked for but writes are sealed
    fd_not_read_write, ///< read-write mapping asked for but the descriptor is read-only or write-only
    map_failed,        ///< mmap refused (errno in `map_result::sys_errno`)
};

[[nodiscard]] constexpr std::string_view to_string(region_error e) noexcept
{
    switch (e) {
    case region_error::none:
        return "none";
    case region_error::bad_fd:
        return "not an open file descriptor";
    case region_error::not_shared_memory:
        return "descriptor is not a shared-memory file (memfd, tmpfs or hugetlbfs)";
    case region_error::size_mismatch:
        return "shared-memory size differs from the size announced";
    case region_error::too_small:
        return "shared-memory region smaller than the minimum";
    case region_error::too_large:
        return "shared-memory region larger than the maximum";
    case region_error::not_sealed:
        return "shared-memory file is not sealed against shrinking (F_SEAL_SHRINK)";
    case region_error::write_sealed:
        return "shared-memory file is sealed against writing";
    case region_error::fd_not_read_write:
        return "descriptor is not open for reading and writing but a read-write mapping is needed";
    case region_error::map_failed:
        return "mmap of the shared-memory file failed";
    }
    return "unknown region error";
}

/// Where a region's memory comes from.
enum class region_kind : std::uint8_t { none, memfd, posix_shm, received };

struct map_result;

/// A mapped shared-memory region. Move-only; a moved-from or default-constructed region is
/// empty (`data() == nullptr`, `size() == 0`, no descriptor).
///
/// Thread safety: the object itself is not synchronised (one owner); the memory it maps is
/// shared, and what is stored in it follows whatever protocol the users of the memory follow.
class shared_region {
public:
    shared_region() noexcept = default;

    /// A memfd region of `bytes` bytes (zero-filled), close-on-exec, sealed per `opts.seals`.
    /// @throws std::invalid_argument if `bytes` is 0 or not a multiple of the huge page size
    /// @throws std::system_error if the kernel refuses (the message says what to change, e.g.
    ///         reserving huge pages)
    [[nodiscard]] static shared_region create(std::size_t bytes, region_options opts = {})
    {
        if (bytes == 0)
            throw std::invalid_argument("xnv: a shared region needs at least one byte");
        const std::size_t page = page_bytes_of(opts.pages);
        if (bytes % page != 0)
            throw std::invalid_argument("xnv: a region of " + std::to_string(bytes) +
                                        " bytes is not a multiple of the " + page_name(opts.pages) + " page size");
        unsigned flags = MFD_CLOEXEC;
        if (opts.seals == sealing::size_locked)
            flags |= MFD_ALLOW_SEALING;
        if (opts.pages == page_policy::huge_2m)
            flags |= MFD_HUGETLB | HUGETLB_FLAG_ENCODE_2MB;
        else if (opts.pages == page_policy::huge_1g)
            flags |= MFD_HUGETLB | HUGETLB_FLAG_ENCODE_1GB;

        unique_fd fd{::memfd_create(opts.debug_name, flags)};
        if (!fd) {
            const int err = errno;
            if (opts.pages != page_policy::normal)
                throw_errno(err, "xnv: memfd_create with " + page_name(opts.pages) +
                                     " huge pages failed (is that huge page size supported by this kernel?)");
            throw_errno(err, "xnv: memfd_create failed");
        }
        if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
            throw_errno(errno, "xnv: sizing the memfd region to " + std::to_string(bytes) + " bytes failed");
        if (opts.seals == sealing::size_locked &&
            ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
            throw_errno(errno, "xnv: sealing the memfd region failed");

        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            if (opts.pages != page_policy::normal && err == ENOMEM)
                throw_errno(err, "xnv: no free " + page_name(opts.pages) + " huge pages for " + std::to_string(bytes) +
                                     " bytes (free in the pool: " + free_huge_pages(opts.pages) +
                                     "); reserve some with `sysctl vm.nr_hugepages=N` or use page_policy::normal");
            throw_errno(err, "xnv: mapping the memfd region failed");
        }
        return shared_region(static_cast<std::byte*>(p), bytes, std::move(fd), region_kind::memfd, page, {});
    }

    /// A named POSIX shared-memory region `name` ("/name": one leading slash, no other),
    /// created exclusively (mode 0600) and unlinked when this object is destroyed. Named shm
    /// lives in tmpfs: base pages only, and it cannot be sealed, so peers map it with
    /// `seal_requirement::none`.
    /// @throws std::invalid_argument on a bad name or zero size
    /// @throws std::system_error if the name exists already or the kernel refuses
    [[nodiscard]] static shared_region create_shm(std::string_view name, std::size_t bytes)
    {
        check_shm_name(name);
        if (bytes == 0)
            throw std::invalid_argument("xnv: a shared region needs at least one byte");
        std::string n(name);
        unique_fd fd{::shm_open(n.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
        if (!fd) {
            const int err = errno;
            if (err == EEXIST)
                throw_errno(err, "xnv: POSIX shared memory " + n + " exists already (stale? remove it from /dev/shm)");
            throw_errno(err, "xnv: shm_open(" + n + ") failed");
        }
        // From here on the name exists: a failure must not leave it behind.
        struct unlink_on_failure {
            const std::string& name;
            bool armed = true;
            ~unlink_on_failure()
            {
                if (armed)
                    ::shm_unlink(name.c_str());
            }
        } guard{n};
        if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
            throw_errno(errno, "xnv: sizing POSIX shared memory " + n + " failed");
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
        if (p == MAP_FAILED)
            throw_errno(errno, "xnv: mapping POSIX shared memory " + n + " failed");
        guard.armed = false;
        return shared_region(static_cast<std::byte*>(p), bytes, std::move(fd), region_kind::posix_shm,
                             page_bytes_of(page_policy::normal), std::move(n));
    }

    /// Map an existing named POSIX shared-memory region in full; the name is left in place.
    /// @throws std::invalid_argument on a bad name
    /// @throws std::system_error if it does not exist, is empty or cannot be mapped
    [[nodiscard]] static shared_region open_shm(std::string_view name, region_access access = region_access::read_write)
    {
        check_shm_name(name);
        const std::string n(name);
        const int oflag = (access == region_access::read_write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
        unique_fd fd{::shm_open(n.c_str(), oflag, 0)};
        if (!fd)
            throw_errno(errno, "xnv: shm_open(" + n + ") failed");
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0)
            throw_errno(errno, "xnv: fstat of POSIX shared memory " + n + " failed");
        if (st.st_size <= 0)
            throw std::system_error(EINVAL, std::generic_category(), "xnv: POSIX shared memory " + n + " is empty");
        const auto bytes = static_cast<std::size_t>(st.st_size);
        void* p = ::mmap(nullptr, bytes, prot_of(access), MAP_SHARED, fd.get(), 0);
        if (p == MAP_FAILED)
            throw_errno(errno, "xnv: mapping POSIX shared memory " + n + " failed");
        return shared_region(static_cast<std::byte*>(p), bytes, std::move(fd), region_kind::posix_shm,
                             page_bytes_of(page_policy::normal), {});
    }

    /// Map a descriptor a peer sent. Nothing the peer chose throws: the descriptor's type
    /// (a regular file on tmpfs or hugetlbfs), size (fstat, against `opts`), seals and access
    /// mode are checked first and a failure is returned as a `region_error`; the descriptor is
    /// closed on failure and owned by the region on success.
    [[nodiscard]] static map_result try_map(unique_fd fd, const map_options& opts) noexcept;

    shared_region(const shared_region&) = delete;
    shared_region& operator=(const shared_region&) = delete;
    shared_region(shared_region&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)), fd_(std::move(other.fd_)),
          kind_(std::exchange(other.kind_, region_kind::none)), page_bytes_(std::exchange(other.page_bytes_, 0)),
          unlink_name_(std::move(other.unlink_name_))
    {
        other.unlink_name_.clear();
    }
    shared_region& operator=(shared_region&& other) noexcept
    {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            fd_ = std::move(other.fd_);
            kind_ = std::exchange(other.kind_, region_kind::none);
            page_bytes_ = std::exchange(other.page_bytes_, 0);
            unlink_name_ = std::move(other.unlink_name_);
            other.unlink_name_.clear();
        }
        return *this;
    }
    ~shared_region() { release(); }

    [[nodiscard]] std::byte* data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::span<std::byte> bytes() const noexcept { return {data_, size_}; }
    [[nodiscard]] bool empty() const noexcept { return data_ == nullptr; }
    /// The descriptor backing the mapping (still owned by the region): pass it with
    /// `SCM_RIGHTS` (the kernel duplicates it into the receiver).
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    /// A close-on-exec duplicate of the backing descriptor; invalid if `dup` failed.
    [[nodiscard]] unique_fd duplicate_fd() const noexcept { return fd_.duplicate(); }
    [[nodiscard]] region_kind kind() const noexcept { return kind_; }
    /// The page size backing the region (4096, or the huge page size).
    [[nodiscard]] std::size_t page_bytes() const noexcept { return page_bytes_; }
    /// The name this object unlinks on destruction (named shm it created), else empty.
    [[nodiscard]] const std::string& owned_name() const noexcept { return unlink_name_; }

private:
    shared_region(std::byte* data, std::size_t size, unique_fd fd, region_kind kind, std::size_t page_bytes,
                  std::string unlink_name) noexcept
        : data_(data), size_(size), fd_(std::move(fd)), kind_(kind), page_bytes_(page_bytes),
          unlink_name_(std::move(unlink_name))
    {}

    void release() noexcept
    {
        if (data_ != nullptr)
            ::munmap(data_, size_);
        if (!unlink_name_.empty())
            ::shm_unlink(unlink_name_.c_str());
        data_ = nullptr;
        size_ = 0;
        fd_.reset();
        kind_ = region_kind::none;
        unlink_name_.clear();
    }

    static constexpr int prot_of(region_access a) noexcept
    {
        return a == region_access::read_write ? PROT_READ | PROT_WRITE : PROT_READ;
    }

    static constexpr std::size_t page_bytes_of(page_policy p) noexcept
    {
        switch (p) {
        case page_policy::huge_2m:
            return std::size_t{2} << 20;
        case page_policy::huge_1g:
            return std::size_t{1} << 30;
        case page_policy::normal:
            break;
        }
        return 4096;
    }

    static std::string page_name(page_policy p)
    {
        switch (p) {
        case page_policy::huge_2m:
            return "2 MiB";
        case page_policy::huge_1g:
            return "1 GiB";
        case page_policy::normal:
            break;
        }
        return "4 KiB";
    }

    // The pool's free count for the error message (sysfs; "unknown" where it cannot be read).
    static std::string free_huge_pages(page_policy p)
    {
        const char* path = p == page_policy::huge_1g ? "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages"
                                                     : "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";
        unique_fd fd{::open(path, O_RDONLY | O_CLOEXEC)};
        char buf[32] = {};
        const ssize_t n = fd ? ::read(fd.get(), buf, sizeof buf - 1) : -1;
        if (n <= 0)
            return "unknown";
        std::string count(buf, static_cast<std::size_t>(n));
        while (!count.empty() && (count.back() == '\n' || count.back() == ' '))
            count.pop_back();
        return count;
    }

    static void check_shm_name(std::string_view name)
    {
        if (name.size() < 2 || name.front() != '/' || name.substr(1).find('/') != std::string_view::npos ||
            name.size() > NAME_MAX || name.find('\0') != std::string_view::npos)
            throw std::invalid_argument("xnv: POSIX shared-memory name '" + std::string(name) +
                                        "' must be '/' followed by 1 to " + std::to_string(NAME_MAX - 1) +
                                        " characters without another '/'");
    }

    [[noreturn]] static void throw_errno(int err, const std::string& what)
    {
        throw std::system_error(err, std::generic_category(), what);
    }

    friend struct map_result;

    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    unique_fd fd_;
    region_kind kind_ = region_kind::none;
    std::size_t page_bytes_ = 0;
    std::string unlink_name_;
};

/// The outcome of mapping a received descriptor: a region, or why not.
struct map_result {
    shared_region region;
    region_error error = region_error::none;
    /// errno of the failing system call, where one failed (else 0).
    int sys_errno = 0;

    [[nodiscard]] bool ok() const noexcept { return error == region_error::none; }
};

inline map_result shared_region::try_map(unique_fd fd, const map_options& opts) noexcept
{
    map_result r;
    auto fail = [&r](region_error e, int err = 0) -> map_result {
        r.error = e;
        r.sys_errno = err;
        return std::move(r);
    };
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0)
        return fail(region_error::bad_fd, fd ? errno : EBADF);
    struct statfs fs {};
    if (!S_ISREG(st.st_mode) || ::fstatfs(fd.get(), &fs) != 0 ||
        (static_cast<unsigned long>(fs.f_type) != TMPFS_MAGIC &&
         static_cast<unsigned long>(fs.f_type) != HUGETLBFS_MAGIC))
        return fail(region_error::not_shared_memory);
    const auto bytes = static_cast<std::size_t>(st.st_size < 0 ? 0 : st.st_size);
    if (opts.expected_bytes != 0 && bytes != opts.expected_bytes)
        return fail(region_error::size_mismatch);
    if (bytes < opts.min_bytes || bytes == 0)
        return fail(region_error::too_small);
    if (bytes > opts.max_bytes)
        return fail(region_error::too_large);

    // Named shm and other unsealable files report EINVAL here: treated as "no seals".
    const int seals = ::fcntl(fd.get(), F_GET_SEALS);
    const int held = seals < 0 ? 0 : seals;
    if (opts.seals == seal_requirement::size_locked && (held & F_SEAL_SHRINK) == 0)
        return fail(region_error::not_sealed);
    if (opts.access == region_access::read_write) {
        if ((held & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0)
            return fail(region_error::write_sealed);
        const int fl = ::fcntl(fd.get(), F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) != O_RDWR)
            return fail(region_error::fd_not_read_write, fl < 0 ? errno : 0);
    }
    void* p = ::mmap(nullptr, bytes, prot_of(opts.access), MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED)
        return fail(region_error::map_failed, errno);
    const bool huge = static_cast<unsigned long>(fs.f_type) == HUGETLBFS_MAGIC;
    r.region = shared_region(static_cast<std::byte*>(p), bytes, std::move(fd), region_kind::received,
                             huge ? static_cast<std::size_t>(st.st_blksize) : page_bytes_of(page_policy::normal), {});
    return r;
}

} // namespace xnv::mem
