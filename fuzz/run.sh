#!/bin/sh
# Runs one fuzz target for $2 seconds (default 300): no sanitizer (the
# workspace forbids unsafe code), panics, 10 s hangs and memory blow-ups
# (RSS 2 GiB, one allocation 512 MiB) are findings. Extra args go to libFuzzer.
# Usage (from the repository root): fuzz/run.sh <target> [seconds] [libFuzzer args…]
t=$1; secs=${2:-300}; shift; [ $# -gt 0 ] && shift
mkdir -p fuzz/logs
RUSTC_BOOTSTRAP=1 exec cargo fuzz run -s none "$t" -- \
  -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
  -print_final_stats=1 "$@"
