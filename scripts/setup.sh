#!/usr/bin/env bash
# Installs the Debian 12 packages xnv needs to build, test, benchmark and run its demo.
# Only missing packages are installed; the list and the reason for each is printed first.
# Usage: scripts/setup.sh [--check]   (--check: report what is missing, install nothing)
set -euo pipefail

# package            why
packages=(
  "cmake               build system (3.25 on Debian 12)"
  "g++                 C++20 compiler (GCC 12)"
  "clang-14            second compiler, libFuzzer targets"
  "libclang-rt-14-dev  sanitizer and libFuzzer runtimes for clang"
  "pkg-config          locating DPDK and checking the installed xnv.pc"
  "libboost-dev        Boost.Lockfree (scheduler hand-off, benchmark peer)"
  "libfmt-dev          formatting in examples and benchmarks"
  "doctest-dev         unit-test framework"
  "libbenchmark-dev    Google Benchmark"
  "libxen-dev          Xen's own io/ring.h and io/netif.h: the ABI reference peer in tests"
  "libdpdk-dev         DPDK rte_ring: a benchmark peer"
  "libreaderwriterqueue-dev  moodycamel ReaderWriterQueue: a benchmark peer"
  "iperf3              end-to-end throughput tests"
  "sockperf            end-to-end latency tests"
  "iproute2            network namespaces for end-to-end tests"
  "gnuplot-nox         plots in docs/ from benchmark JSON"
  "python3             benchmark result processing"
)

missing=()
for line in "${packages[@]}"; do
  name=${line%% *}
  if ! dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$name")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} required Debian packages are installed"
  exit 0
fi

echo "setup: missing Debian packages:"
for line in "${packages[@]}"; do
  name=${line%% *}
  for m in "${missing[@]}"; do [ "$m" = "$name" ] && echo "  $line"; done
done
if [ "${1:-}" = "--check" ]; then exit 1; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: installing needs root; run as root or install the packages above" >&2
  exit 1
fi
echo "setup: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
