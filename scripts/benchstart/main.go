// Command benchstart measures start-to-exit of /bin/true in a fresh container,
// side by side in one run: fork+exec on the host (the floor), pipe's isolation
// runtime (fresh overlay root, new network namespace), crun, runc and bwrap on
// the same busybox root. It prints each as a ratio to fork+exec and to pipe.
//
// crun 1.8 refuses this machine's hybrid cgroup layout, so it runs inside a
// private mount namespace in which /sys/fs/cgroup/unified is unmounted
// (MACHINE.md); the host is left untouched.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/isolation"
)

func main() {
	isolation.MaybeInit()
	n := flag.Int("n", 200, "containers per runtime")
	peer := flag.String("peer", "", "internal: time one peer's loop and print nanoseconds per op")
	bundle := flag.String("bundle", "", "internal: OCI bundle for -peer")
	out := flag.String("o", "", "also write pipe's median start, in nanoseconds, to this file")
	writeBundle := flag.String("write-bundle", "", "only write the busybox OCI bundle (for crun and runc) into this new dir, and exit")
	flag.Parse()
	if *writeBundle != "" {
		if err := newBundle(*writeBundle); err != nil {
			fmt.Fprintln(os.Stderr, "benchstart:", err)
			os.Exit(1)
		}
		return
	}
	if *peer != "" {
		d, err := peerLoop(*peer, *bundle, *n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchstart:", err)
			os.Exit(1)
		}
		fmt.Println(d.Nanoseconds())
		return
	}
	if err := run(*n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchstart:", err)
		os.Exit(1)
	}
}

type row struct {
	name string
	per  time.Duration
}

// newBundle writes an OCI bundle of the busybox root into dir.
func newBundle(dir string) error {
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := testimage.WriteRootfs(root); err != nil {
		return err
	}
	return writeBundleConfig(dir)
}

func run(n int, out string) error {
	dir, err := os.MkdirTemp("/var/tmp", "benchstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "bundle", "rootfs")
	if err := newBundle(filepath.Join(dir, "bundle")); err != nil {
		return err
	}
	var rows []row
	add := func(name string, d time.Duration, err error) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchstart: %s: %v\n", name, err)
			return
		}
		rows = append(rows, row{name, d})
	}
	d, err := timeLoop(n, func(int) error { return exec.Command("/bin/true").Run() })
	add("fork+exec /bin/true (host)", d, err)
	d, err = pipeLoop(dir, root, n)
	add("pipe (isolation.Run, fresh overlay)", d, err)
	if err == nil && out != "" {
		if err := os.WriteFile(out, []byte(fmt.Sprintln(d.Nanoseconds())), 0o644); err != nil {
			return err
		}
	}
	for _, p := range []string{"crun", "runc", "bwrap"} {
		d, err = peerViaUnshare(p, filepath.Join(dir, "bundle"), n)
		add(p, d, err)
	}
	print(rows)
	return nil
}

func pipeLoop(dir, root string, n int) (time.Duration, error) {
	rt, err := isolation.New(isolation.Options{StateDir: filepath.Join(dir, "state")})
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	return timeLoop(n, func(i int) error {
		res, err := rt.Run(ctx, &isolation.Spec{
			ID:      fmt.Sprintf("bench-%d", i),
			Root:    isolation.Overlay{Lower: []string{root}},
			Process: isolation.Process{Args: []string{"/bin/true"}},
		})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d", res.ExitCode)
		}
		return err
	})
}

// peerViaUnshare runs this program again in a private mount namespace (so
// crun's cgroup check passes) and reads the time per op it prints.
func peerViaUnshare(peer, bundle string, n int) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	script := fmt.Sprintf("umount /sys/fs/cgroup/unified 2>/dev/null; exec %q -peer %s -bundle %q -n %d", self, peer, bundle, n)
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	var ns int64
	if _, err := fmt.Sscan(strings.TrimSpace(string(out)), &ns); err != nil {
		return 0, fmt.Errorf("unexpected output %q", out)
	}
	return time.Duration(ns), nil
}

func peerLoop(peer, bundle string, n int) (time.Duration, error) {
	root := filepath.Join(bundle, "rootfs")
	return timeLoop(n, func(i int) error {
		id := fmt.Sprintf("benchstart-%d-%d", os.Getpid(), i)
		var cmd *exec.Cmd
		switch peer {
		case "crun", "runc":
			cmd = exec.Command(peer, "run", "--bundle", bundle, id)
		case "bwrap":
			cmd = exec.Command("bwrap", "--unshare-all", "--ro-bind", root, "/", "--proc", "/proc", "--dev", "/dev", "/bin/true")
		default:
			return fmt.Errorf("unknown peer %q", peer)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", peer, err, out)
		}
		return nil
	})
}

// timeLoop runs f n times after two warm-up runs and returns the median time per run.
func timeLoop(n int, f func(int) error) (time.Duration, error) {
	for i := 0; i < 2; i++ {
		if err := f(-1 - i); err != nil {
			return 0, err
		}
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		t := time.Now()
		if err := f(i); err != nil {
			return 0, err
		}
		ds[i] = time.Since(t)
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	return ds[n/2], nil
}

// writeBundleConfig writes an OCI runtime config for runc/crun: /bin/true on a
// read-only busybox root, with fresh pid, net, ipc, uts, mount and cgroup namespaces.
func writeBundleConfig(bundle string) error {
	cmd := exec.Command("runc", "spec", "--bundle", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	proc := cfg["process"].(map[string]any)
	proc["args"] = []string{"/bin/true"}
	proc["terminal"] = false
	cfg["root"] = map[string]any{"path": "rootfs", "readonly": true}
	b, err = json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func print(rows []row) {
	if len(rows) == 0 {
		return
	}
	var pipe time.Duration
	for _, r := range rows {
		if strings.HasPrefix(r.name, "pipe") {
			pipe = r.per
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "runtime\tmedian per container\tx fork+exec\tx pipe")
	for _, r := range rows {
		xp := "-"
		if pipe > 0 {
			xp = fmt.Sprintf("%.2fx", float64(r.per)/float64(pipe))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fx\t%s\n", r.name, r.per.Round(time.Microsecond), float64(r.per)/float64(rows[0].per), xp)
	}
	tw.Flush()
}
