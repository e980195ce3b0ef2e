// SPDX-License-Identifier: MIT
#pragma once

/// @file Umbrella header: every public header of xnv. Each also compiles on its own.

#include <xnv/clock.hpp>
#include <xnv/version.hpp>

// ring
#include <xnv/ring/error.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/ring/ring.hpp>
#include <xnv/ring/wait.hpp>

// wire
#include <xnv/wire/netif.hpp>
#include <xnv/wire/netif_back.hpp>
#include <xnv/wire/netif_front.hpp>

// notify
#include <xnv/notify/adaptive.hpp>
#include <xnv/notify/backoff.hpp>
#include <xnv/notify/channel.hpp>
#include <xnv/notify/coalescer.hpp>
#include <xnv/notify/counters.hpp>
#include <xnv/notify/counting_fake.hpp>
#include <xnv/notify/eventfd_channel.hpp>
#include <xnv/notify/futex_channel.hpp>
#include <xnv/notify/inprocess_channel.hpp>
#include <xnv/notify/masked_channel.hpp>
#include <xnv/notify/policy.hpp>
#include <xnv/notify/poller.hpp>

// sched
#include <xnv/sched/balancer.hpp>
#include <xnv/sched/dispatch.hpp>
#include <xnv/sched/dispatcher.hpp>
#include <xnv/sched/policies.hpp>
#include <xnv/sched/scheduler.hpp>
#include <xnv/sched/tasklet.hpp>

// mem
#include <xnv/mem/grant_table.hpp>
#include <xnv/mem/index_allocator.hpp>
#include <xnv/mem/region.hpp>
#include <xnv/mem/unique_fd.hpp>

// sim
#include <xnv/sim/cost_model.hpp>
#include <xnv/sim/event_queue.hpp>
#include <xnv/sim/result.hpp>
#include <xnv/sim/rng.hpp>
#include <xnv/sim/simulator.hpp>
#include <xnv/sim/trace.hpp>
#include <xnv/sim/traffic.hpp>
