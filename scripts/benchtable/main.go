// Command benchtable prints hyperfine JSON exports as one table of ratios:
// each command's mean time as a multiple of the first command of its file.
//
//	go run ./scripts/benchtable a.json [b.json ...]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
)

type export struct {
	Results []struct {
		Command string  `json:"command"`
		Mean    float64 `json:"mean"`
		Stddev  float64 `json:"stddev"`
		Min     float64 `json:"min"`
	} `json:"results"`
}

func main() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "command\tmean\t± sd\tmin\tratio to first")
	for _, f := range os.Args[1:] {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		var e export
		if err := json.Unmarshal(b, &e); err != nil {
			fmt.Fprintf(os.Stderr, "benchtable: %s: %v\n", f, err)
			os.Exit(1)
		}
		for _, r := range e.Results {
			ratio := r.Mean / e.Results[0].Mean
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fx\n", r.Command, dur(r.Mean), dur(r.Stddev), dur(r.Min), ratio)
		}
	}
	tw.Flush()
}

func dur(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.1f ms", s*1e3)
	default:
		return fmt.Sprintf("%.0f µs", s*1e6)
	}
}
