package testcluster

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Every socket the cluster's processes listen on is on 127.0.0.1, but the
// registry's, on the pod bridge's address; and the expected ones are there
// (so that the check cannot pass on an empty list).
func TestKubeListenersLoopbackOnly(t *testing.T) {
	c := Get(t)
	pids, err := filepath.Glob(filepath.Join(c.Dir, "pids", "*.pid"))
	if err != nil || len(pids) == 0 {
		t.Fatalf("no PID files in %s/pids (%v)", c.Dir, err)
	}
	listening, err := listeners()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range pids {
		comp := strings.TrimSuffix(filepath.Base(f), ".pid")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.Fields(string(b))[0]
		inodes, err := socketInodes(pid)
		if err != nil {
			t.Fatalf("%s (pid %s): %v", comp, pid, err)
		}
		for _, ino := range inodes {
			addr, ok := listening[ino]
			if !ok {
				continue
			}
			seen[addr] = true
			host, _, _ := net.SplitHostPort(addr)
			if host != "127.0.0.1" && !(comp == "registry" && host == BridgeAddr) {
				t.Errorf("%s listens on %s: want 127.0.0.1 (or %s for the registry)", comp, addr, BridgeAddr)
			}
		}
	}
	for _, want := range []string{"127.0.0.1:6443", "127.0.0.1:2379", "127.0.0.1:10250", c.Registry} {
		if !seen[want] {
			t.Errorf("nothing of the cluster listens on %s; listeners seen: %v", want, seen)
		}
	}
}

// socketInodes are the socket inodes among the open files of pid.
func socketInodes(pid string) ([]string, error) {
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return nil, fmt.Errorf("is the cluster up? %w", err)
	}
	var inodes []string
	for _, fd := range fds {
		l, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes = append(inodes, strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"))
		}
	}
	return inodes, nil
}

// listeners maps the inode of every listening TCP socket and bound UDP
// socket of the host's network namespace to its local address.
func listeners() (map[string]string, error) {
	out := map[string]string{}
	for _, f := range []struct{ path, state string }{
		{"/proc/net/tcp", "0A"}, {"/proc/net/tcp6", "0A"}, {"/proc/net/udp", "07"}, {"/proc/net/udp6", "07"},
	} {
		if err := readSockets(f.path, f.state, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readSockets reads one /proc/net table: "sl local rem st ... inode".
func readSockets(path, state string, out map[string]string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != state {
			continue
		}
		addr, err := procAddr(f[1])
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		out[f[9]] = addr
	}
	return sc.Err()
}

// procAddr decodes /proc/net's "0100007F:1A0B" (address in host byte order
// per 32-bit word, port in hex) into "127.0.0.1:6667".
func procAddr(s string) (string, error) {
	h, p, ok := strings.Cut(s, ":")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || (len(b) != 4 && len(b) != 16) {
		return "", fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", fmt.Errorf("bad port in %q", s)
	}
	return net.JoinHostPort(net.IP(b).String(), strconv.FormatUint(port, 10)), nil
}

func TestProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1A0B":                         "127.0.0.1:6667",
		"0100F40A:1388":                         "10.244.0.1:5000",
		"00000000:0050":                         "0.0.0.0:80",
		"00000000000000000000000000000000:1F90": "[::]:8080",
		"00000000000000000000000001000000:0016": "[::1]:22",
	} {
		got, err := procAddr(in)
		if err != nil || got != want {
			t.Errorf("procAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// The pod bridge keeps one MAC address while pods come and go. A bridge
// left to choose takes the lowest address of its ports: each pod's veth
// added or removed could change it, and the pods still running would keep
// sending to the old one until their ARP entries expire, so their
// connections to the registry timed out (a push sidecar's "dial tcp
// 10.244.0.1:5000: i/o timeout" just after another pod of the run ended).
func TestKubeBridgeAddressFixed(t *testing.T) {
	c := Get(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", Bridge, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := read("addr_assign_type"); got != "3" { // NET_ADDR_SET
		t.Errorf("%s addr_assign_type %s, want 3: its MAC follows its ports", Bridge, got)
	}
	before := read("address")
	ns := c.Namespace(t)
	p := c.RunPod(t, busyboxPod(ns, "port", c.Busybox(t), "true"))
	if term := terminated(t, c, p); term.ExitCode != 0 {
		t.Fatalf("pod exit %d", term.ExitCode)
	}
	if during := read("address"); during != before {
		t.Errorf("%s's MAC changed from %s to %s when a pod's veth joined it", Bridge, before, during)
	}
	if err := c.Client(t).CoreV1().Pods(ns).Delete(t.Context(), p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := read("address"); after != before {
		t.Errorf("%s's MAC changed from %s to %s after a pod was deleted", Bridge, before, after)
	}
}
