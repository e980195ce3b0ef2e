// SPDX-License-Identifier: MIT
#include <xnv/mem/region.hpp>

#include <doctest/doctest.h>

#include "fd_count.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <sys/eventfd.h>
#include <sys/socket.h>

using namespace xnv::mem;

namespace {

std::string unique_shm_name(const char* tag)
{
    return "/xnv-test-" + std::string(tag) + "-" + std::to_string(::getpid());
}

bool shm_exists(const std::string& name)
{
    const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
    if (fd < 0)
        return false;
    ::close(fd);
    return true;
}

unique_fd reopen_read_only(int fd)
{
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    return unique_fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
}

} // namespace

TEST_CASE("a memfd region is zero-filled, close-on-exec and sealed against resizing")
{
    const auto before = xnv::test::open_fd_count();
    {
        auto r = shared_region::create(3 * 4096);
        CHECK(r.size() == 3 * 4096);
        CHECK(r.kind() == region_kind::memfd);
        CHECK(r.page_bytes() == 4096);
        CHECK(std::all_of(r.bytes().begin(), r.bytes().end(), [](std::byte b) { return b == std::byte{0}; }));
        CHECK((::fcntl(r.fd(), F_GETFD) & FD_CLOEXEC) != 0);
        const int seals = ::fcntl(r.fd(), F_GET_SEALS);
        CHECK((seals & F_SEAL_SHRINK) != 0);
        CHECK((seals & F_SEAL_GROW) != 0);
        CHECK((seals & F_SEAL_SEAL) != 0);
        CHECK(::ftruncate(r.fd(), 4096) != 0); // the seal holds
        CHECK(r.owned_name().empty());
    }
    CHECK(xnv::test::open_fd_count() == before);
}

TEST_CASE("an unsealed memfd region can be requested")
{
    auto r = shared_region::create(4096, {.seals = sealing::none});
    CHECK((::fcntl(r.fd(), F_GET_SEALS) & F_SEAL_SHRINK) == 0);
}

TEST_CASE("a region of zero bytes is a caller mistake")
{
    CHECK_THROWS_AS(static_cast<void>(shared_region::create(0)), std::invalid_argument);
    CHECK_THROWS_AS(static_cast<void>(shared_region::create_shm("/xnv-zero", 0)), std::invalid_argument);
}

TEST_CASE("moving a region transfers the mapping and the descriptor")
{
    const auto before = xnv::test::open_fd_count();
    {
        auto a = shared_region::create(4096);
        a.data()[7] = std::byte{42};
        const int fd = a.fd();
        shared_region b(std::move(a));
        CHECK(a.empty());
        CHECK(a.fd() == -1);
        CHECK(a.size() == 0);
        CHECK(b.fd() == fd);
        CHECK(b.data()[7] == std::byte{42});
        shared_region c;
        c = std::move(b);
        CHECK(b.empty());
        CHECK(c.data()[7] == std::byte{42});
        c = shared_region::create(8192); // the old mapping and descriptor are released
        CHECK(c.size() == 8192);
    }
    CHECK(xnv::test::open_fd_count() == before);
}

TEST_CASE("huge pages: a size that is not a multiple of the huge page is refused")
{
    CHECK_THROWS_AS(static_cast<void>(shared_region::create(4096, {.pages = page_policy::huge_2m})),
                    std::invalid_argument);
}

TEST_CASE("huge pages: a region is created, or the error says how to get huge pages")
{
    const auto before = xnv::test::open_fd_count();
    try {
        auto r = shared_region::create(std::size_t{2} << 20, {.pages = page_policy::huge_2m});
        CHECK(r.page_bytes() == (std::size_t{2} << 20));
        r.data()[0] = std::byte{1};
        // A peer mapping it learns the huge page size from the file.
        auto m = shared_region::try_map(r.duplicate_fd(), {});
        REQUIRE(m.ok());
        CHECK(m.region.page_bytes() == (std::size_t{2} << 20));
        CHECK(m.region.data()[0] == std::byte{1});
    } catch (const std::system_error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("huge pages") != std::string::npos);
    }
    CHECK(xnv::test::open_fd_count() == before);
}

TEST_CASE("named POSIX shm is unlinked by its creator and only by it")
{
    const std::string name = unique_shm_name("named");
    {
        auto creator = shared_region::create_shm(name, 4096);
        CHECK(creator.kind() == region_kind::posix_shm);
        CHECK(creator.owned_name() == name);
        CHECK(shm_exists(name));
        std::memcpy(creator.data(), "hello", 5);
        {
            auto opener = shared_region::open_shm(name);
            CHECK(opener.size() == 4096);
            CHECK(std::memcmp(opener.data(), "hello", 5) == 0);
            CHECK(opener.owned_name().empty());
        }
        CHECK(shm_exists(name)); // the opener left it in place
    }
    CHECK_FALSE(shm_exists(name));
}

TEST_CASE("named POSIX shm: an existing name is a clear error and is left alone")
{
    const std::string name = unique_shm_name("dup");
    auto first = shared_region::create_shm(name, 4096);
    try {
        static_cast<void>(shared_region::create_shm(name, 4096));
        FAIL("a second create of the same name must throw");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EEXIST);
        CHECK(std::string(e.what()).find("exists already") != std::string::npos);
    }
    CHECK(shm_exists(name)); // the failed create did not unlink the first one's name
}

TEST_CASE("named POSIX shm: bad names are rejected")
{
    for (const char* bad : {"", "/", "no-slash", "/two/slashes", "//"}) {
        INFO(bad);
        CHECK_THROWS_AS(static_cast<void>(shared_region::create_shm(bad, 4096)), std::invalid_argument);
        CHECK_THROWS_AS(static_cast<void>(shared_region::open_shm(bad)), std::invalid_argument);
    }
    CHECK_THROWS_AS(static_cast<void>(shared_region::create_shm("/" + std::string(300, 'x'), 4096)),
                    std::invalid_argument);
}

TEST_CASE("named POSIX shm: opening a name that does not exist says so")
{
    try {
        static_cast<void>(shared_region::open_shm(unique_shm_name("missing")));
        FAIL("open of a missing name must throw");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
    }
}

TEST_CASE("try_map maps a peer's sealed memfd and shares its contents")
{
    const auto before = xnv::test::open_fd_count();
    {
        auto r = shared_region::create(2 * 4096);
        auto m = shared_region::try_map(r.duplicate_fd(), {.expected_bytes = 2 * 4096});
        REQUIRE(m.ok());
        CHECK(m.region.kind() == region_kind::received);
        CHECK(m.region.size() == 2 * 4096);
        r.data()[4096] = std::byte{0x5A};
        CHECK(m.region.data()[4096] == std::byte{0x5A});
        m.region.data()[1] = std::byte{0x33};
        CHECK(r.data()[1] == std::byte{0x33});
    }
    CHECK(xnv::test::open_fd_count() == before);
}

TEST_CASE("try_map rejects a bad descriptor and closes whatever it was given")
{
    auto r = shared_region::create(2 * 4096);
    const auto with_region = xnv::test::open_fd_count();

    SUBCASE("no descriptor")
    {
        auto m = shared_region::try_map(unique_fd{}, {});
        CHECK(m.error == region_error::bad_fd);
        CHECK(m.region.empty());
    }
    SUBCASE("size differs from the announced size")
    {
        auto m = shared_region::try_map(r.duplicate_fd(), {.expected_bytes = 4096});
        CHECK(m.error == region_error::size_mismatch);
    }
    SUBCASE("smaller than the minimum")
    {
        auto m = shared_region::try_map(r.duplicate_fd(), {.min_bytes = 3 * 4096});
        CHECK(m.error == region_error::too_small);
    }
    SUBCASE("larger than the maximum")
    {
        auto m = shared_region::try_map(r.duplicate_fd(), {.max_bytes = 4096});
        CHECK(m.error == region_error::too_large);
    }
    SUBCASE("an eventfd is not shared memory")
    {
        auto m = shared_region::try_map(unique_fd{::eventfd(0, EFD_CLOEXEC)}, {});
        CHECK(m.error == region_error::not_shared_memory);
    }
    SUBCASE("a socket is not shared memory")
    {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        unique_fd keep{sv[1]};
        auto m = shared_region::try_map(unique_fd{sv[0]}, {});
        CHECK(m.error == region_error::not_shared_memory);
    }
    SUBCASE("an unsealed memfd when the size seal is required")
    {
        auto unsealed = shared_region::create(4096, {.seals = sealing::none});
        auto m = shared_region::try_map(unsealed.duplicate_fd(), {});
        CHECK(m.error == region_error::not_sealed);
        auto trusted = shared_region::try_map(unsealed.duplicate_fd(), {.seals = seal_requirement::none});
        CHECK(trusted.ok());
    }
    SUBCASE("a read-only descriptor for a read-write mapping")
    {
        auto m = shared_region::try_map(reopen_read_only(r.fd()), {});
        CHECK(m.error == region_error::fd_not_read_write);
        auto ro = shared_region::try_map(reopen_read_only(r.fd()), {.access = region_access::read_only});
        REQUIRE(ro.ok());
        r.data()[9] = std::byte{9};
        CHECK(ro.region.data()[9] == std::byte{9});
    }
    SUBCASE("a write-sealed memfd for a read-write mapping")
    {
        // memfd_create directly: the region's own sealing never seals writes.
        unique_fd fd{::memfd_create("write-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
        REQUIRE(fd);
        REQUIRE(::ftruncate(fd.get(), 4096) == 0);
        REQUIRE(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_WRITE) == 0);
        auto m = shared_region::try_map(std::move(fd), {});
        CHECK(m.error == region_error::write_sealed);
    }
    CHECK(xnv::test::open_fd_count() == with_region);
}

TEST_CASE("every region error has a distinct description")
{
    const region_error all[] = {
        region_error::none,          region_error::bad_fd,       region_error::not_shared_memory,
        region_error::size_mismatch, region_error::too_small,    region_error::too_large,
        region_error::not_sealed,    region_error::write_sealed, region_error::fd_not_read_write,
        region_error::map_failed};
    for (auto a : all)
        for (auto b : all)
            if (a != b)
                CHECK(to_string(a) != to_string(b));
}
