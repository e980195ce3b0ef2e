// SPDX-License-Identifier: MIT
#include <xnv/sim/event_queue.hpp>

#include <doctest/doctest.h>

#include <vector>

using namespace std::chrono_literals;
using xnv::nanos;

TEST_CASE("event_queue: events come out in time order")
{
    xnv::sim::event_queue<int> q;
    q.push(30ns, 3);
    q.push(10ns, 1);
    q.push(20ns, 2);
    std::vector<int> got;
    while (!q.empty())
        got.push_back(q.pop().payload);
    CHECK(got == std::vector<int>{1, 2, 3});
}

TEST_CASE("event_queue: simultaneous events come out in the order they were pushed")
{
    xnv::sim::event_queue<int> q;
    for (int i = 0; i < 100; ++i)
        q.push(nanos(i % 3), i); // three times, interleaved
    std::vector<int> got;
    nanos last{-1};
    while (!q.empty()) {
        auto e = q.pop();
        CHECK(e.time >= last);
        last = e.time;
        got.push_back(e.payload);
    }
    std::vector<int> want;
    for (int t = 0; t < 3; ++t)
        for (int i = t; i < 100; i += 3)
            want.push_back(i);
    CHECK(got == want);
    CHECK(q.pushed() == 100);
}

TEST_CASE("event_queue: pushes between pops keep the order")
{
    xnv::sim::event_queue<int> q;
    q.push(5ns, 0);
    q.push(5ns, 1);
    CHECK(q.pop().payload == 0);
    q.push(5ns, 2);
    q.push(4ns, 3);
    CHECK(q.top().payload == 3);
    CHECK(q.pop().payload == 3);
    CHECK(q.pop().payload == 1);
    CHECK(q.pop().payload == 2);
    CHECK(q.empty());
    CHECK(q.size() == 0);
}
