package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Rootless is how a rootless pipe's store keeps file owners. Such a pipe
// runs as root of a user namespace (isolation.UserNS); the store extracts
// layers there, so that an image's owners land on the user's subordinate
// ids on disk, and a container mounting them (from the same map) sees the
// owners the image says. The content addressing is the same as root's.
type Rootless struct {
	// UIDMap and GIDMap are the namespace's maps as "0:1000:1 1:100000:65536"
	// (inside:host:count, space-separated). The store records them; a store
	// whose recorded map is not a prefix of the current one (the subordinate
	// ranges changed) is refused, as its files' owners no longer map.
	UIDMap, GIDMap string
	// Single: the namespace maps the user alone. Every file is then owned by
	// the user (as by a non-root pipe), and setuid bits are dropped.
	Single bool
}

// idmapFile records the map a rootless store was made under.
const idmapFile = "idmap"

// OpenRootless opens the store at root, as Open does, for a pipe in a user
// namespace with the map r.
func OpenRootless(root string, r Rootless) (*Store, error) {
	s, err := Open(root)
	if err != nil {
		return nil, err
	}
	s.rootless = &r
	// Image files owned by subordinate ids (setuid ones too) must not be
	// reachable by other users of the machine.
	if err := os.Chmod(s.root, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.root, err)
	}
	if err := s.checkIDMap(r); err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.root, err)
	}
	return s, nil
}

// checkIDMap compares the recorded map with r, and records r.
func (s *Store) checkIDMap(r Rootless) error {
	p := s.path(idmapFile)
	want := "uid " + r.UIDMap + "\ngid " + r.GIDMap + "\n"
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil {
		old := strings.SplitN(string(b), "\n", 3)
		if len(old) < 2 || !tokensPrefix(strings.TrimPrefix(old[0], "uid "), r.UIDMap) || !tokensPrefix(strings.TrimPrefix(old[1], "gid "), r.GIDMap) {
			return &IDMapError{Store: s.root, Recorded: strings.TrimSpace(string(b)), Now: strings.TrimSpace(want)}
		}
		if string(b) == want {
			return nil
		}
	}
	return s.writeFileAtomic(p, []byte(want))
}

// tokensPrefix says whether the space-separated ranges of old begin cur.
func tokensPrefix(old, cur string) bool {
	o, c := strings.Fields(old), strings.Fields(cur)
	if len(o) > len(c) {
		return false
	}
	for i := range o {
		if o[i] != c[i] {
			return false
		}
	}
	return true
}

// IDMapError is a rootless store made under a user namespace map that no
// longer holds: /etc/subuid or /etc/subgid changed since.
type IDMapError struct {
	Store, Recorded, Now string
}

func (e *IDMapError) Error() string {
	return fmt.Sprintf("the store was made under the id map %q, but your user namespace is now %q (/etc/subuid or /etc/subgid changed): "+
		"files in it belong to ids that no longer map, so pipe cannot use or remove them; ask root to remove %s "+
		"(or set PIPE_HOME to a new dir)", e.Recorded, e.Now, e.Store)
}

// extractOpts is how the store extracts a layer: as root on the host, as
// root of a user namespace, or as an ordinary user (owners not kept).
func (s *Store) extractOpts(image, layer string) extractOptions {
	o := extractOptions{Image: image, Layer: layer}
	switch {
	case s.rootless == nil:
		o.Root = os.Geteuid() == 0
	case !s.rootless.Single:
		o.Root, o.UserNS = true, true
	}
	return o
}
