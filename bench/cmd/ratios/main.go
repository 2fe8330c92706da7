// Command ratios reads the output of the bench module's benchmarks (the
// same file benchstat reads) and prints, as Markdown:
//
//   - the median of every case for every library and GOMAXPROCS, with its
//     allocations, and the floors;
//   - for every case and GOMAXPROCS, the ratio of fusebox's median to each
//     peer's median (below 1 means fusebox is faster);
//   - the performance targets of docs/ARCHITECTURE.md, each marked met or missed.
//
// Medians are taken over the -count repetitions, as benchstat does. Cases
// are benchmarks named Case/lib=NAME; a library missing from a case (a skip)
// leaves its cell empty.
//
// Usage:
//
//	go run ./cmd/ratios bench.txt
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// key identifies one set of repetitions: a case (the benchmark name without
// its lib= part), a library, and GOMAXPROCS.
type key struct {
	bench string
	lib   string
	procs int
}

// results holds every measurement by key and unit, and the order in which
// cases, libraries and GOMAXPROCS values first appeared.
type results struct {
	values map[key]map[string][]float64
	benchs []string
	libs   []string
	procs  []int
}

func main() {
	base := flag.String("base", "fusebox", "the library whose ratios to the others are printed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: ratios [-base lib] file...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	res, err := read(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	printMedians(os.Stdout, res)
	fmt.Println()
	printRatios(os.Stdout, res, *base)
	fmt.Println()
	printTargets(os.Stdout, res)
}

func read(files []string) (*results, error) {
	res := &results{values: map[key]map[string][]float64{}}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		r := benchfmt.NewReader(f, name)
		for r.Scan() {
			rec, ok := r.Result().(*benchfmt.Result)
			if !ok {
				continue // unit metadata or a syntax error line: not a result
			}
			res.add(rec)
		}
		err = r.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (res *results) add(r *benchfmt.Result) {
	baseName, parts := r.Name.Parts()
	k := key{bench: string(baseName), procs: 1}
	for _, p := range parts {
		switch {
		case bytes.HasPrefix(p, []byte("/lib=")):
			k.lib = string(p[len("/lib="):])
		case bytes.HasPrefix(p, []byte("-")):
			if n, err := strconv.Atoi(string(p[1:])); err == nil {
				k.procs = n
			}
		default:
			k.bench += string(p)
		}
	}
	if !slices.Contains(res.benchs, k.bench) {
		res.benchs = append(res.benchs, k.bench)
	}
	if k.lib != "" && !slices.Contains(res.libs, k.lib) {
		res.libs = append(res.libs, k.lib)
	}
	if !slices.Contains(res.procs, k.procs) {
		res.procs = append(res.procs, k.procs)
		slices.Sort(res.procs)
	}
	m := res.values[k]
	if m == nil {
		m = map[string][]float64{}
		res.values[k] = m
	}
	for _, v := range r.Values {
		m[v.Unit] = append(m[v.Unit], v.Value)
	}
}

// median returns the median of the unit's values for k.
func (res *results) median(k key, unit string) (float64, bool) {
	vs := slices.Clone(res.values[k][unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// ns returns the median time per op in nanoseconds.
func (res *results) ns(bench, lib string, procs int) (float64, bool) {
	v, ok := res.median(key{bench, lib, procs}, "sec/op")
	return v * 1e9, ok
}

// primary returns the median a case is compared by: B/breaker for the
// memory cases, nanoseconds per op for the others.
func (res *results) primary(bench, lib string, procs int) (float64, bool) {
	if v, ok := res.median(key{bench, lib, procs}, "B/breaker"); ok {
		return v, true
	}
	return res.ns(bench, lib, procs)
}

// printMedians prints one table of the cases (one column per library) and
// one of the benchmarks without a library (the floors).
func printMedians(w io.Writer, res *results) {
	fmt.Fprintf(w, "### Medians (ns/op unless marked, allocs/op in brackets; BreakerMemory in B/breaker)\n\n")
	fmt.Fprintf(w, "| case | -cpu | %s |\n", strings.Join(res.libs, " | "))
	fmt.Fprintf(w, "|---|---|%s\n", strings.Repeat("---|", len(res.libs)))
	var floors []string
	for _, bench := range res.benchs {
		for _, p := range res.procs {
			if _, ok := res.values[key{bench, "", p}]; ok {
				if !slices.Contains(floors, bench) {
					floors = append(floors, bench)
				}
				continue
			}
			cells := make([]string, len(res.libs))
			filled := false
			for i, lib := range res.libs {
				cells[i] = res.cell(bench, lib, p)
				filled = filled || cells[i] != ""
			}
			if filled {
				fmt.Fprintf(w, "| %s | %d | %s |\n", bench, p, strings.Join(cells, " | "))
			}
		}
	}
	if len(floors) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| floor | %s |\n|---|%s\n", joinProcs(res.procs), strings.Repeat("---|", len(res.procs)))
	for _, bench := range floors {
		cells := make([]string, len(res.procs))
		for i, p := range res.procs {
			cells[i] = res.cell(bench, "", p)
		}
		fmt.Fprintf(w, "| %s | %s |\n", bench, strings.Join(cells, " | "))
	}
}

func joinProcs(procs []int) string {
	s := make([]string, len(procs))
	for i, p := range procs {
		s[i] = fmt.Sprintf("-cpu %d", p)
	}
	return strings.Join(s, " | ")
}

// cell formats a median for the medians table, or "" when it did not run.
func (res *results) cell(bench, lib string, procs int) string {
	if v, ok := res.median(key{bench, lib, procs}, "B/breaker"); ok {
		return fmt.Sprintf("%.0f B", v)
	}
	v, ok := res.ns(bench, lib, procs)
	if !ok {
		return ""
	}
	var s string
	switch {
	case v >= 1e6:
		s = fmt.Sprintf("%.1f ms", v/1e6)
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	default:
		s = fmt.Sprintf("%.1f", v)
	}
	if a, ok := res.median(key{bench, lib, procs}, "allocs/op"); ok {
		s += " (" + strconv.FormatFloat(a, 'f', -1, 64) + ")"
	}
	return s
}

func printRatios(w io.Writer, res *results, base string) {
	var peers []string
	for _, l := range res.libs {
		if !strings.HasPrefix(l, base) {
			peers = append(peers, l)
		}
	}
	fmt.Fprintf(w, "### %s / peer (ratio of medians; below 1 means %s is faster or smaller)\n\n", base, base)
	fmt.Fprintf(w, "| case | -cpu | %s |\n", strings.Join(peers, " | "))
	fmt.Fprintf(w, "|---|---|%s\n", strings.Repeat("---|", len(peers)))
	for _, bench := range res.benchs {
		for _, p := range res.procs {
			mine, ok := res.primary(bench, base, p)
			if !ok {
				continue
			}
			cells := make([]string, len(peers))
			filled := false
			for i, peer := range peers {
				// A peer with telemetry is compared with fusebox with
				// telemetry, when that ran.
				me := mine
				if j := strings.IndexByte(peer, '+'); j >= 0 {
					v, ok := res.primary(bench, base+peer[j:], p)
					if !ok {
						continue
					}
					me = v
				}
				if theirs, ok := res.primary(bench, peer, p); ok && theirs > 0 {
					cells[i] = ratio(me / theirs)
					filled = true
				}
			}
			if filled {
				fmt.Fprintf(w, "| %s | %d | %s |\n", bench, p, strings.Join(cells, " | "))
			}
		}
	}
	fmt.Fprintf(w, "\nA column NAME+otel compares %s+otel with NAME+otel. BreakerMemory compares B/breaker.\n", base)
}

// target is one line of the performance targets (docs/ARCHITECTURE.md),
// checked at one GOMAXPROCS value.
type target struct {
	what     string
	measured string
	met      bool
}

func printTargets(w io.Writer, res *results) {
	var ts []target
	add := func(what, measured string, met bool) { ts = append(ts, target{what, measured, met}) }
	noAlloc := []string{"ClosedSuccess", "ClosedSuccessParallel", "ClosedFailure", "OpenRejection", "OpenRejectionParallel"}

	for _, p := range res.procs {
		// Closed success: within 1.2x of eapache, serial at every -cpu and
		// in parallel at -cpu 2 and above.
		benchs := []string{"ClosedSuccess"}
		if p >= 2 {
			benchs = append(benchs, "ClosedSuccessParallel")
		}
		for _, b := range benchs {
			if f, e, ok := pair(res, b, "fusebox", "eapache", p); ok {
				add(fmt.Sprintf("%s -cpu %d: fusebox <= 1.2 x eapache", b, p), fmt.Sprintf("%.1f vs %.1f ns", f, e), f <= 1.2*e)
			}
		}
		if f, e, ok := pair(res, "ClosedFailure", "fusebox", "eapache", p); ok {
			add(fmt.Sprintf("ClosedFailure -cpu %d: fusebox <= eapache/2", p), fmt.Sprintf("%.1f vs %.1f ns", f, e), f <= e/2)
		}
		for _, b := range []string{"OpenRejection", "OpenRejectionParallel"} {
			if f, g, ok := pair(res, b, "fusebox", "gobreaker", p); ok {
				add(fmt.Sprintf("%s -cpu %d: fusebox <= gobreaker/2", b, p), fmt.Sprintf("%.1f vs %.1f ns", f, g), f <= g/2)
			}
		}
		if f, e, ok := pair(res, "OpenRejection", "fusebox", "eapache", p); ok {
			add(fmt.Sprintf("OpenRejection -cpu %d: fusebox <= 3 x eapache", p), fmt.Sprintf("%.1f vs %.1f ns", f, e), f <= 3*e)
		}
		for _, lib := range []string{"fusebox", "fusebox+sub", "fusebox+otel"} {
			var bad []string
			seen := false
			for _, b := range noAlloc {
				if a, ok := res.median(key{b, lib, p}, "allocs/op"); ok {
					seen = true
					if a != 0 {
						bad = append(bad, fmt.Sprintf("%s %g", b, a))
					}
				}
			}
			if seen {
				m := "0 in every case"
				if len(bad) > 0 {
					m = strings.Join(bad, ", ")
				}
				add(fmt.Sprintf("-cpu %d: %s allocates nothing (closed, failure, rejection)", p, lib), m, len(bad) == 0)
			}
		}
		if t, ok := res.ns("ClosedSuccess", "fusebox+otel", p); ok {
			if fl, ok := res.ns("FloorTelemetry/op=now+since+histogram", "", p); ok {
				add(fmt.Sprintf("ClosedSuccess -cpu %d: fusebox+otel <= floor(2 clock reads + histogram) + 25 ns", p),
					fmt.Sprintf("%.1f vs %.1f + 25 ns", t, fl), t <= fl+25)
			}
		}
		if m, ok := res.median(key{"BreakerMemory", "fusebox", p}, "B/breaker"); ok {
			add(fmt.Sprintf("BreakerMemory -cpu %d: fusebox < 1 KiB per breaker in a registry of 10,000", p),
				fmt.Sprintf("%.0f B", m), m < 1024)
		}
		if f, h, ok := pair(res, "Metrics10k", "fusebox", "client_golang", p); ok {
			add(fmt.Sprintf("Metrics10k -cpu %d: /metrics <= 1.5 x hand-written collector", p),
				fmt.Sprintf("%.2f vs %.2f ms", f/1e6, h/1e6), f <= 1.5*h)
		}
	}

	met := 0
	fmt.Fprintf(w, "### Targets (docs/ARCHITECTURE.md)\n\n| target | measured (medians) | |\n|---|---|---|\n")
	for _, t := range ts {
		mark := "MISSED"
		if t.met {
			mark = "met"
			met++
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.measured, mark)
	}
	fmt.Fprintf(w, "\n%d of %d targets met.\n", met, len(ts))
}

// pair returns the median ns/op of two libraries in one case.
func pair(res *results, bench, a, b string, procs int) (float64, float64, bool) {
	x, ok1 := res.ns(bench, a, procs)
	y, ok2 := res.ns(bench, b, procs)
	return x, y, ok1 && ok2
}

// ratio formats a ratio with two decimals, or three below 0.1 so that a
// peer hundreds of times slower does not show as 0.00.
func ratio(r float64) string {
	if r < 0.1 {
		return fmt.Sprintf("%.3f", r)
	}
	return fmt.Sprintf("%.2f", r)
}
