#!/usr/bin/env bash
# Runs the comparative benchmarks and prints benchstat's table of medians,
# then the Markdown medians, fusebox/peer ratios and DESIGN.md targets.
# Called by `make bench`, which installs benchstat first. Settings:
#
#   BENCH_COUNT (6)    repetitions of every case; medians are over these
#   BENCH_CPU   (1,2,8) GOMAXPROCS values
#   BENCH_TIME  (200ms) time per case and repetition
#   BENCH_RUN   (.)     -bench pattern, e.g. '/lib=(fusebox|eapache)$'
#   BENCH_OUT   (bench/bench.out) raw results, the file benchstat reads
set -euo pipefail

cd "$(dirname "$0")"
count=${BENCH_COUNT:-6}
cpu=${BENCH_CPU:-1,2,8}
benchtime=${BENCH_TIME:-200ms}
pattern=${BENCH_RUN:-.}
out=${BENCH_OUT:-bench.out}
benchstat=${BENCHSTAT:-$(go env GOPATH)/bin/benchstat}

start=$(date +%s)
{
	echo "# $(go version)"
	echo "# cpus: $(nproc); model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# go test -bench '$pattern' -count $count -cpu $cpu -benchtime $benchtime"
} | tee "$out"
go test -run '^$' -bench "$pattern" -benchmem -count "$count" -cpu "$cpu" \
	-benchtime "$benchtime" -timeout 60m . | tee -a "$out"
echo "# wall time: $(($(date +%s) - start))s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"

echo
# One column per library (the first, fusebox, is benchstat's base), then
# the floors, one column per GOMAXPROCS.
"$benchstat" -filter '/lib:/./ .unit:("ns/op" OR "allocs/op" OR "B/breaker")' -col /lib "$out"
echo
"$benchstat" -filter '.name:/^Floor/ .unit:("ns/op" OR "allocs/op")' -col /gomaxprocs "$out"
echo
go run ./cmd/ratios "$out"
