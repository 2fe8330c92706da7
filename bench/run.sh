#!/usr/bin/env bash
# Runs the comparative benchmarks and prints benchstat's table of medians,
# then the Markdown medians, fusebox/peer ratios and the targets of
# docs/ARCHITECTURE.md.
# Called by `make bench`, which installs benchstat first. Settings:
#
#   BENCH_COUNT (6)    repetitions of every case, run as interleaved passes;
#                      medians are over these
#   BENCH_CPU   (1,2,8) GOMAXPROCS values
#   BENCH_TIME  (200ms) time per case and repetition
#   BENCH_RUN   (.)     -bench pattern, e.g. '/lib=(fusebox|eapache)$'
#   BENCH_OUT   (bench/bench.out) raw results, the file benchstat reads
#   GO, BENCHSTAT   the go command and the benchstat binary
set -euo pipefail

cd "$(dirname "$0")"
go=${GO:-go}
count=${BENCH_COUNT:-6}
cpu=${BENCH_CPU:-1,2,8}
benchtime=${BENCH_TIME:-200ms}
pattern=${BENCH_RUN:-.}
out=${BENCH_OUT:-bench.out}
benchstat=${BENCHSTAT:-$("$go" env GOPATH)/bin/benchstat}

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
start=$(date +%s)
"$go" test -c -o "$bin/bench.test" .
{
	echo "# $("$go" version)"
	echo "# cpus: $(nproc); model: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# go test -bench '$pattern' -benchmem -count $count -cpu $cpu -benchtime $benchtime, as $count interleaved passes"
} | tee "$out"
# The repetitions run as whole passes over every case rather than with
# -count: a burst of load from elsewhere on the machine then slows one
# repetition of many libraries, which the medians absorb, instead of every
# repetition of one library.
for pass in $(seq "$count"); do
	echo "# pass $pass of $count" | tee -a "$out"
	"$bin/bench.test" -test.run '^$' -test.bench "$pattern" -test.benchmem -test.count 1 \
		-test.cpu "$cpu" -test.benchtime "$benchtime" -test.timeout 30m | tee -a "$out"
done
echo "# wall time: $(($(date +%s) - start))s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"

echo
# One column per library (the first, fusebox, is benchstat's base), then
# the floors, one column per GOMAXPROCS.
"$benchstat" -filter '/lib:/./ .unit:("ns/op" OR "allocs/op" OR "B/breaker")' -col /lib "$out"
echo
"$benchstat" -filter '.name:/^Floor/ .unit:("ns/op" OR "allocs/op")' -col /gomaxprocs "$out"
echo
"$go" run ./cmd/ratios "$out"
