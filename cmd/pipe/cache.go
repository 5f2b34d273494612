package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/spf13/cobra"
)

func newCacheCmd(o *output) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Show and free the disk pipe's store uses",
	}
	cmd.AddCommand(newCacheDuCmd(o), newCachePruneCmd(o))
	return cmd
}

func newCacheDuCmd(o *output) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "du",
		Short: "Print the store's disk use by kind (images, layers, results, volumes, ...)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			u, err := s.Usage(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(o, u)
			}
			tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KIND\tENTRIES\tSIZE")
			for _, k := range u.Kinds {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", k.Kind, k.Entries, cache.HumanBytes(k.Bytes))
			}
			fmt.Fprintf(tw, "%s\t\t%s\n", "total", cache.HumanBytes(u.Bytes))
			if err := tw.Flush(); err != nil {
				return err
			}
			o.printf("%s\n", o.faint("store: "+u.Root))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newCachePruneCmd(o *output) *cobra.Command {
	var asJSON, all, kubernetes bool
	var olderThan time.Duration
	var kf kubeFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove unused layers, old step results and leftovers; --all removes everything not in use",
		Long: "prune removes the layers and blobs no stored image uses, the step results not used\n" +
			"for --older-than, and what killed pipe processes left behind. --all also removes every\n" +
			"image, result and cache volume. What a running pipe uses is always kept.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return usageError("--older-than %s: want a positive duration, e.g. 168h", olderThan)
			}
			s, err := openStore()
			if err != nil {
				return err
			}
			if kubernetes {
				return pruneKube(cmd.Context(), o, s, kf, asJSON)
			}
			if kf != (kubeFlags{}) {
				return usageError("--kubeconfig, --kube-context and --kube-namespace need --kubernetes")
			}
			rep, err := s.Prune(cmd.Context(), cache.PruneOptions{OlderThan: olderThan, All: all})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(o, rep)
			}
			return printPruned(o, rep)
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 168*time.Hour, "remove step results not used for this long (0 keeps them)")
	cmd.Flags().BoolVar(&all, "all", false, "remove every image, result and volume not in use")
	cmd.Flags().BoolVar(&kubernetes, "kubernetes", false, "instead of the store, prune the cluster: remove the pods, NetworkPolicies and Secrets that runs of this machine left there when they were killed")
	addKubeFlags(cmd, &kf)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printPruned prints a count and size per kind.
func printPruned(o *output, rep cache.PruneReport) error {
	type agg struct {
		n     int
		bytes int64
	}
	byKind := map[string]*agg{}
	var kinds []string
	for _, p := range rep.Removed {
		a := byKind[p.Kind]
		if a == nil {
			a = &agg{}
			byKind[p.Kind] = a
			kinds = append(kinds, p.Kind)
		}
		a.n++
		a.bytes += p.Bytes
	}
	if len(kinds) == 0 {
		o.printf("nothing to prune\n")
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REMOVED\tCOUNT\tSIZE")
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", k, byKind[k].n, cache.HumanBytes(byKind[k].bytes))
	}
	fmt.Fprintf(tw, "%s\t\t%s\n", "freed", cache.HumanBytes(rep.Bytes))
	return tw.Flush()
}
