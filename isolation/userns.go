package isolation

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Rootless mode: an ordinary user runs pipe in one user namespace per pipe
// process, in which that user is root (uid and gid 0) and the user's
// subordinate ranges (/etc/subuid, /etc/subgid) are ids 1 and up. Inside it,
// the code that runs containers as root works unchanged: every container's
// namespaces are created by, and owned by, that user namespace.
//
// The mode is explicit: EnterUserNS starts pipe again inside the namespace
// with the map in its environment, and CurrentUserNS reads it back, once, at
// start. Nothing keys on euid == 0: inside the namespace pipe is uid 0.

// userNSEnv carries the map of the user namespace to the pipe process in it.
const userNSEnv = "PIPE_USERNS"

// IDRange is a run of host ids mapped into the user namespace.
type IDRange struct {
	Host  int // the first host id
	Count int // how many
}

// UserNS is the user namespace a rootless pipe runs in.
type UserNS struct {
	UID, GID int // the invoking user's host ids, mapped to 0 in the namespace
	// SubUIDs and SubGIDs are the subordinate ranges mapped to ids 1, 2, ...
	// in order. Without them (no /etc/subuid entry, no newuidmap, or
	// no_new_privs) the namespace maps the user alone: Single.
	SubUIDs, SubGIDs []IDRange
}

// Single says whether the namespace maps nothing but the user's own ids:
// then every file of an image is owned by root in a container, and no
// process in it can switch to another user.
func (u *UserNS) Single() bool { return len(u.SubUIDs) == 0 || len(u.SubGIDs) == 0 }

// MaxUID is the highest uid mapped in the namespace.
func (u *UserNS) MaxUID() int { return rangesSize(u.SubUIDs) }

// MaxGID is the highest gid mapped in the namespace.
func (u *UserNS) MaxGID() int { return rangesSize(u.SubGIDs) }

func rangesSize(rs []IDRange) int {
	n := 0
	for _, r := range rs {
		n += r.Count
	}
	return n
}

// String is the map as a stable text ("uid 0:1000:1 1:100000:65536; gid
// ..."): what the store records to notice a changed /etc/subuid.
func (u *UserNS) String() string {
	return "uid " + u.UIDMapText() + "; gid " + u.GIDMapText()
}

// UIDMapText is the uid map as "inside:host:count" ranges, space-separated.
func (u *UserNS) UIDMapText() string { return mapText(u.UID, u.SubUIDs) }

// GIDMapText is the gid map, as UIDMapText.
func (u *UserNS) GIDMapText() string { return mapText(u.GID, u.SubGIDs) }

func mapText(own int, subs []IDRange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "0:%d:1", own)
	next := 1
	for _, r := range subs {
		fmt.Fprintf(&b, " %d:%d:%d", next, r.Host, r.Count)
		next += r.Count
	}
	return b.String()
}

// encode is the map as the value of userNSEnv.
func (u *UserNS) encode() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d", u.UID, u.GID)
	for _, r := range u.SubUIDs {
		fmt.Fprintf(&b, ",u%d:%d", r.Host, r.Count)
	}
	for _, r := range u.SubGIDs {
		fmt.Fprintf(&b, ",g%d:%d", r.Host, r.Count)
	}
	return b.String()
}

// decodeUserNS parses encode's form.
func decodeUserNS(s string) (*UserNS, error) {
	parts := strings.Split(s, ",")
	var u UserNS
	if _, err := fmt.Sscanf(parts[0], "%d:%d", &u.UID, &u.GID); err != nil {
		return nil, fmt.Errorf("%s=%q: %w", userNSEnv, s, err)
	}
	for _, p := range parts[1:] {
		if p == "" {
			return nil, fmt.Errorf("%s=%q: empty range", userNSEnv, s)
		}
		var r IDRange
		if _, err := fmt.Sscanf(p[1:], "%d:%d", &r.Host, &r.Count); err != nil || r.Count <= 0 {
			return nil, fmt.Errorf("%s=%q: bad range %q", userNSEnv, s, p)
		}
		switch p[0] {
		case 'u':
			u.SubUIDs = append(u.SubUIDs, r)
		case 'g':
			u.SubGIDs = append(u.SubGIDs, r)
		default:
			return nil, fmt.Errorf("%s=%q: bad range %q", userNSEnv, s, p)
		}
	}
	return &u, nil
}

// readSubIDs returns the ranges /etc/subuid (or /etc/subgid) at path gives
// the user name or numeric id, in file order. A missing file is no ranges.
// A range that contains the user's own id is refused, as newuidmap would
// map that id twice.
func readSubIDs(path, name string, id int) ([]IDRange, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []IDRange
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || start < 0 || count <= 0 {
			return nil, fmt.Errorf("%s:%d: %q is not NAME:START:COUNT", path, n, line)
		}
		if id >= start && id < start+count {
			return nil, fmt.Errorf("%s:%d: the range %d-%d contains your own id %d; give %s a range apart from it (usermod --del-subuids/--add-subuids)", path, n, start, start+count-1, id, name)
		}
		out = append(out, IDRange{Host: start, Count: count})
	}
	return out, sc.Err()
}
