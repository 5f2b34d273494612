package isolation

import (
	"context"
	"os"
	"strings"
	"testing"
)

// netnsOf is the network namespace a container sees (/proc/self/ns/net).
func netnsOf(t *testing.T, r *Runtime, n Network) string {
	t.Helper()
	s := busybox(t, "/bin/readlink", "/proc/self/ns/net")
	s.Network = n
	res, out := run(t, r, s)
	if res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", res.ExitCode, out)
	}
	return strings.TrimSpace(out)
}

func TestNetwork(t *testing.T) {
	r := newTestRuntime(t)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// Two at the same time: a freed namespace's inode number is reused.
	s := busybox(t, "/bin/sleep", "1000")
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	none1, err := execOutput(c, "readlink /proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	none1 = strings.TrimSpace(none1)
	if none2 := netnsOf(t, r, Network{Mode: NetworkNone}); none1 == host || none1 == none2 {
		t.Errorf("network none: %s and %s, host %s: want two fresh namespaces", none1, none2, host)
	}
	if got := netnsOf(t, r, Network{Mode: NetworkHost}); got != host {
		t.Errorf("network host: %s, want %s", got, host)
	}
	// The listener's stdin is a FIFO held open, not the /dev/null of a
	// background job: busybox nc exits at EOF on stdin, and under load that
	// came before the client's bytes (4 % of runs on a loaded machine).
	out := sh(t, r, `ls /sys/class/net; ip link show lo | grep -c LOWER_UP
		mkfifo /tmp/hold
		nc -l -p 8080 < /tmp/hold > /tmp/got &
		exec 3>/tmp/hold
		for i in $(seq 400); do echo over-lo | nc 127.0.0.1 8080 2>/dev/null && break; sleep 0.05; done
		wait; exec 3>&-; cat /tmp/got`)
	if out != "lo\n1\nover-lo\n" {
		t.Errorf("network none: %q, want only lo, up", out)
	}

	n, err := r.NewNetNS("shared")
	if err != nil {
		t.Fatal(err)
	}
	j1, j2 := netnsOf(t, r, Network{Mode: NetworkJoin, Path: n.Path}), netnsOf(t, r, Network{Mode: NetworkJoin, Path: n.Path})
	if j1 != j2 || j1 == host || j1 == none1 {
		t.Errorf("joined: %s and %s, want one shared namespace", j1, j2)
	}
	s = busybox(t, "/bin/sh", "-c", "ip link show lo | grep -c LOWER_UP")
	s.Network = Network{Mode: NetworkJoin, Path: n.Path}
	if _, out := run(t, r, s); out != "1\n" {
		t.Errorf("lo in a NewNetNS: %q, want up", out)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.Path); err == nil {
		t.Errorf("pin %s left after Close", n.Path)
	}
	s = busybox(t, "/bin/true")
	s.Network = Network{Mode: NetworkJoin, Path: n.Path}
	if _, err := r.Run(context.Background(), s); err == nil {
		t.Errorf("joining a closed netns: no error")
	}
}
