// Command benchrows prints the rows of scripts/benchrun as one table of
// ratios from one run: each row's pipe figure, its peer's and the goal of
// issue 16. It reads hyperfine JSON exports (medians: the machine is shared
// and means drift with the load) and the few numbers benchrun wrote.
//
//	go run ./scripts/benchrows -one one.json [-onecold one-cold.json] -chain chain.json \
//	    -bare bare.ns -par par.json -rss rss.kib [-self self.json]
//	go run ./scripts/benchrows -kube kube.json   # scripts/bench-kube: pods beside local containers
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one command of a hyperfine export (seconds).
type result struct {
	Command string  `json:"command"`
	Median  float64 `json:"median"`
	Min     float64 `json:"min"`
	User    float64 `json:"user"`
	System  float64 `json:"system"`
}

func main() {
	one := flag.String("one", "", "hyperfine export: one step vs the peers")
	oneCold := flag.String("onecold", "", "hyperfine export: one step vs crun, each run after an idle gap")
	chain := flag.String("chain", "", "hyperfine export: 1 step and 20 steps in a chain")
	bare := flag.String("bare", "", "file with the median bare container start of pipe's runtime, in ns")
	par := flag.String("par", "", "hyperfine export: 100 parallel steps with --jobs 2, and crun x100")
	rss := flag.String("rss", "", "file with the maximum RSS in KiB of the 100-step run")
	self := flag.String("self", "", "hyperfine export: git status and the cached run of this repo's pipeline")
	kube := flag.String("kube", "", "hyperfine export of scripts/bench-kube: 1 and 5 steps, local and as pods")
	flag.Parse()
	t := &table{tw: tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)}
	if *kube != "" {
		fmt.Fprintln(t.tw, "row\tas pods\tlocal containers\tratio\tof mins")
		t.kube(*kube)
	} else {
		fmt.Fprintln(t.tw, "row\tpipe\tpeer\tratio\tof mins\tgoal")
		t.oneStep(*one)
		if *oneCold != "" {
			t.oneStepCold(*oneCold)
		}
		t.chain(*chain, *bare)
		t.parallel(*par, *rss)
	}
	if *self != "" {
		t.self(*self)
	}
	t.tw.Flush()
	if t.err != nil {
		fmt.Fprintln(os.Stderr, "benchrows:", t.err)
		os.Exit(1)
	}
}

type table struct {
	tw  *tabwriter.Writer
	err error
}

// row prints one goal's row: ratio is of medians, which the goal is
// judged by; ofMins (0: none) is of the fastest runs, what the load of a
// shared machine disturbs least.
func (t *table) row(name, pipe, peer string, ratio, ofMins float64, goal string, max float64) {
	met := "met"
	if ratio > max {
		met = "NOT met"
	}
	mins := ""
	if ofMins > 0 {
		mins = fmt.Sprintf("%.2fx", ofMins)
	}
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%.2fx\t%s\t%s (%s)\n", name, pipe, peer, ratio, mins, goal, met)
}

// oneStep: the whole 1-step pipe run against each peer, as a ratio to crun.
func (t *table) oneStep(file string) {
	rs := t.load(file)
	crun, nc, cached := find(rs, "crun run"), find(rs, "pipe run --no-cache (1 step)"), find(rs, "pipe run (1 step, cached)")
	if crun == nil || nc == nil || cached == nil {
		t.fail(file, "want crun run, pipe run --no-cache (1 step) and pipe run (1 step, cached)")
		return
	}
	t.row("1 `true` step, --no-cache, whole pipe run", ms(nc.Median), "crun run "+ms(crun.Median), nc.Median/crun.Median, nc.Min/crun.Min, "<= 1.0x crun", 1.0)
	for _, r := range rs {
		if r == crun || strings.HasPrefix(r.Command, "pipe") {
			continue
		}
		fmt.Fprintf(t.tw, "  the same vs %s\t\t%s\t%.2fx\t%.2fx\t\n", r.Command, ms(r.Median), nc.Median/r.Median, nc.Min/r.Min)
	}
	fmt.Fprintf(t.tw, "  the same step cached\t%s\t\t%.2fx crun\t%.2fx\t\n", ms(cached.Median), cached.Median/crun.Median, cached.Min/crun.Min)
}

// oneStepCold: the same, every run after an idle gap, so that crun pays
// the cgroup v1 grace period as pipe does (benchrun says why).
func (t *table) oneStepCold(file string) {
	rs := t.load(file)
	crun, nc := find(rs, "crun run"), find(rs, "pipe run --no-cache (1 step)")
	if crun == nil || nc == nil {
		t.fail(file, "want crun run and pipe run --no-cache (1 step)")
		return
	}
	t.row("  the same, each run after 50 ms idle", ms(nc.Median), "crun run "+ms(crun.Median), nc.Median/crun.Median, nc.Min/crun.Min, "<= 1.0x crun", 1.0)
}

// chain: what a step adds inside a 20-step chain, against a bare start.
func (t *table) chain(file, bareFile string) {
	rs := t.load(file)
	one, twenty := find(rs, "pipe run --no-cache (1 step)"), find(rs, "pipe run --no-cache (20 steps)")
	bare := t.number(bareFile) / 1e9
	if one == nil || twenty == nil || bare <= 0 {
		t.fail(file, "want pipe run --no-cache (1 step) and (20 steps), and a bare start")
		return
	}
	per := (twenty.Median - one.Median) / 19
	t.row("per step in a 20-step chain", ms(per), "isolation.Run "+ms(bare), per/bare, 0, "<= 1.3x bare start", 1.3)
}

// parallel: 100 parallel steps on 2 jobs; CPU over wall says what bounds it.
func (t *table) parallel(file, rssFile string) {
	rs := t.load(file)
	p, c := find(rs, "pipe run --no-cache --jobs 2 (100 steps)"), find(rs, "crun run x100, 2 at a time")
	if p == nil || c == nil {
		t.fail(file, "want the 100-step pipe run and crun x100")
		return
	}
	// Bounded by the cores, not by pipe: no slower than the bare runtime
	// starting the same containers two at a time. The share of the two
	// cores pipe's run kept busy says how much of the wall time was CPU.
	busy := (p.User + p.System) / p.Median / 2
	t.row("100 parallel `true` steps, --jobs 2", ms(p.Median), "crun x100, 2 at a time "+ms(c.Median), p.Median/c.Median, p.Min/c.Min,
		fmt.Sprintf("<= 1.0x crun x100 (CPU %.0f%% of 2 cores x wall)", 100*busy), 1.0)
	if kib := t.number(rssFile); kib > 0 {
		mib := kib / 1024
		t.row("  peak RSS of that run (pipe or its largest child)", fmt.Sprintf("%.1f MiB", mib), "", mib/40, 0, "< 40 MiB", 1)
	}
}

// self: the repo's own pipeline, all cache hits, against git status.
func (t *table) self(file string) {
	rs := t.load(file)
	g, p := find(rs, "git status"), find(rs, "pipe run (this repo, cached)")
	if g == nil || p == nil {
		t.fail(file, "want git status and pipe run (this repo, cached)")
		return
	}
	t.row("this repo's pipeline, fully cached", ms(p.Median), "git status "+ms(g.Median), p.Median/g.Median, p.Min/g.Min, "<= 2x git status", 2)
}

// kube: what a step costs as a pod beside a local container, whole runs
// and per step of a chain (the 5 steps' time less the 1 step's, over 4:
// the run's own start, the agent image and the snapshot push left out).
func (t *table) kube(file string) {
	rs := t.load(file)
	l1, l5 := find(rs, "local (1 step)"), find(rs, "local (5 steps)")
	k1, k5 := find(rs, "kubernetes (1 step)"), find(rs, "kubernetes (5 steps)")
	if l1 == nil || l5 == nil || k1 == nil || k5 == nil {
		t.fail(file, "want local and kubernetes, (1 step) and (5 steps)")
		return
	}
	fmt.Fprintf(t.tw, "1 `true` step, --no-cache, whole pipe run\t%s\t%s\t%.1fx\t%.1fx\n", ms(k1.Median), ms(l1.Median), k1.Median/l1.Median, k1.Min/l1.Min)
	kp, lp := (k5.Median-k1.Median)/4, (l5.Median-l1.Median)/4
	kpm, lpm := (k5.Min-k1.Min)/4, (l5.Min-l1.Min)/4
	fmt.Fprintf(t.tw, "per step in a 5-step chain\t%s\t%s\t%.0fx\t%.0fx\n", ms(kp), ms(lp), kp/lp, kpm/lpm)
	fmt.Fprintf(t.tw, "  a pod's overhead over a local container, per step\t%s\t\t\t\n", ms(kp-lp))
}

func (t *table) load(file string) []*result {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.fail(file, err.Error())
		return nil
	}
	var e struct{ Results []*result }
	if err := json.Unmarshal(b, &e); err != nil {
		t.fail(file, err.Error())
	}
	return e.Results
}

func (t *table) number(file string) float64 {
	b, err := os.ReadFile(file)
	if err != nil {
		t.fail(file, err.Error())
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.fail(file, err.Error())
	}
	return v
}

func (t *table) fail(file, msg string) {
	if t.err == nil {
		t.err = fmt.Errorf("%s: %s", file, msg)
	}
}

func find(rs []*result, name string) *result {
	for _, r := range rs {
		if r.Command == name {
			return r
		}
	}
	return nil
}

func ms(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(10 * time.Microsecond).String()
}
