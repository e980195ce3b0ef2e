// SPDX-License-Identifier: MIT
#pragma once

/// @file Umbrella header: everything in xnv.

#include <xnv/version.hpp>

#include <xnv/ring/error.hpp>
#include <xnv/ring/layout.hpp>
#include <xnv/ring/ring.hpp>
#include <xnv/ring/wait.hpp>
#include <xnv/wire/netif.hpp>
