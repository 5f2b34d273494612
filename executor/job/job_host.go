package job

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pipe-run/pipe/isolation"
)

// A HostTools container's root: a small skeleton dir (the host's top-level
// symlinks such as bin -> usr/bin, /etc/passwd and /etc/group of root and
// nobody, empty mount points) plus read-only bind mounts of the host's
// program dirs and of what programs read from /etc (certificates,
// alternatives, the loader cache, git's system config). Nothing else of the
// host is visible: not /root, /home, /var or the rest of /etc.

// hostProgramDirs are bind-mounted when they are dirs, recreated when
// they are symlinks.
var hostProgramDirs = []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// hostEtcPaths are the /etc entries a HostTools root sees.
var hostEtcPaths = []string{"etc/ssl", "etc/ca-certificates", "etc/alternatives", "etc/ld.so.cache", "etc/gitconfig", "etc/nsswitch.conf", "etc/localtime"}

// hostToolsRoot makes the skeleton in dir (once per job) and returns it
// with the mounts that complete it.
func hostToolsRoot(dir string, files map[string]string) (string, []isolation.Mount, error) {
	if err := makeSkeleton(dir); err != nil {
		return "", nil, fmt.Errorf("host tools root: %w", err)
	}
	var mounts []isolation.Mount
	for _, d := range hostProgramDirs {
		if fi, err := os.Lstat("/" + d); err == nil && fi.IsDir() {
			mounts = append(mounts, isolation.Mount{Type: isolation.MountBind, Source: "/" + d, Target: "/" + d, ReadOnly: true})
		}
	}
	for _, p := range hostEtcPaths {
		if _, err := os.Stat("/" + p); err == nil {
			mounts = append(mounts, isolation.Mount{Type: isolation.MountBind, Source: "/" + p, Target: "/" + p, ReadOnly: true})
		}
	}
	targets := make([]string, 0, len(files))
	for t := range files {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, t := range targets {
		mounts = append(mounts, isolation.Mount{Type: isolation.MountBind, Source: files[t], Target: t, ReadOnly: true})
	}
	mounts = append(mounts, isolation.Mount{Type: isolation.MountTmpfs, Target: "/tmp"})
	return dir, mounts, nil
}

func makeSkeleton(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "etc", "passwd")); err == nil {
		return nil
	}
	for _, d := range []string{"etc", "tmp", "root", "var/tmp", "opt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	for _, d := range hostProgramDirs {
		if link, err := os.Readlink("/" + d); err == nil {
			if err := os.Symlink(link, filepath.Join(dir, d)); err != nil && !os.IsExist(err) {
				return err
			}
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// withHostNames adds the names of the host's /etc/hosts (but localhost's)
// to hosts; the job's own names win.
func withHostNames(hosts map[string]string) map[string]string {
	b, _ := os.ReadFile("/etc/hosts")
	out := parseHosts(b)
	for n, a := range hosts {
		out[n] = a
	}
	return out
}

// parseHosts reads an /etc/hosts file: name -> its first address, without
// the loopback names every container has.
func parseHosts(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		for _, name := range f[1:] {
			if _, seen := out[name]; !seen && !strings.HasPrefix(name, "localhost") && !strings.HasPrefix(name, "ip6-") {
				out[name] = f[0]
			}
		}
	}
	return out
}
