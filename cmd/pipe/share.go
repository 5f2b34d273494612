package main

import (
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/pipeline"
)

// shareFlags are pipe run's flags for the step cache shared through
// registries.
type shareFlags struct {
	from        []string
	to          string
	pushSecrets bool
	deadline    time.Duration
	volumeMax   string
}

func addShareFlags(cmd *cobra.Command, f *shareFlags) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.from, "cache-from", nil, "registry repository to read step results and cache volumes from (repeatable, in order: the first hit wins; default $PIPE_CACHE_FROM, comma-separated)")
	fl.StringVar(&f.to, "cache-to", "", "registry repository to push step results and cache volumes to (default $PIPE_CACHE_TO)")
	fl.BoolVar(&f.pushSecrets, "cache-push-secrets", false, "also push the results of steps given secrets (their outputs may hold them)")
	fl.StringVar(&f.volumeMax, "cache-volume-max", "2GiB", "size cap of a pushed cache volume (e.g. 500MiB, 4GiB; 0: none): the oldest files beyond it stay local")
	fl.DurationVar(&f.deadline, "cache-push-timeout", executor.DefaultRemoteDeadline, "how long the end of the run waits for pushes before dropping them")
}

// open makes the shared cache the flags (or the environment) name; nil when
// none is named or with --no-cache.
func (f *shareFlags) open(store *cache.Store, noCache bool) (executor.RemoteCache, error) {
	from, to := f.from, f.to
	if len(from) == 0 {
		from = splitList(os.Getenv("PIPE_CACHE_FROM"))
	}
	if to == "" {
		to = strings.TrimSpace(os.Getenv("PIPE_CACHE_TO"))
	}
	if noCache || (len(from) == 0 && to == "") {
		return nil, nil
	}
	max, err := pipeline.ParseSize(f.volumeMax)
	if err != nil {
		return nil, usageError("--cache-volume-max: %v", err)
	}
	if max == 0 {
		max = -1 // no cap
	}
	sh := &cache.Shared{Store: store, VolumeMax: max}
	for _, repo := range from {
		rem, err := cache.OpenRemote(repo, cache.RemoteOptions{})
		if err != nil {
			return nil, usageError("--cache-from: %v", err)
		}
		sh.From = append(sh.From, rem)
	}
	if to != "" {
		rem, err := cache.OpenRemote(to, cache.RemoteOptions{})
		if err != nil {
			return nil, usageError("--cache-to: %v", err)
		}
		sh.To = rem
	}
	return sh, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
