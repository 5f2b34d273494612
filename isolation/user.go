package isolation

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// pipe never loads a library from an image (no NSS, no libc): a container's
// users and groups are read from its /etc/passwd and /etc/group by this small
// parser, with the rules of Docker and runc.

// execUser is who a process runs as.
type execUser struct {
	UID, GID uint32
	Groups   []uint32 // supplementary groups, without GID
	Home     string
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	Name     string
	UID, GID uint32
	Home     string
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	Name    string
	GID     uint32
	Members []string
}

// parsePasswd reads /etc/passwd lines; malformed lines are skipped, as libc does.
func parsePasswd(r io.Reader) ([]passwdEntry, error) {
	var out []passwdEntry
	err := eachLine(r, func(f []string) {
		if len(f) < 4 {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil || f[0] == "" {
			return
		}
		e := passwdEntry{Name: f[0], UID: uid, GID: gid}
		if len(f) >= 6 {
			e.Home = f[5]
		}
		out = append(out, e)
	})
	return out, err
}

// parseGroup reads /etc/group lines; malformed lines are skipped.
func parseGroup(r io.Reader) ([]groupEntry, error) {
	var out []groupEntry
	err := eachLine(r, func(f []string) {
		if len(f) < 3 || f[0] == "" {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			return
		}
		e := groupEntry{Name: f[0], GID: gid}
		if len(f) >= 4 && f[3] != "" {
			e.Members = strings.Split(f[3], ",")
		}
		out = append(out, e)
	})
	return out, err
}

// eachLine calls fn with the colon-separated fields of every non-comment line.
func eachLine(r io.Reader, fn func([]string)) error {
	if r == nil {
		return nil
	}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4096), 1<<20)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	return s.Err()
}

// parseID parses a uid or gid (0 to 2^32-2; 2^32-1 is "no id").
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, fmt.Errorf("%q is not a valid id", s)
	}
	return uint32(n), nil
}

// resolveUser turns a Process.User ("", "uid", "uid:gid", "name",
// "name:group", "uid:group", "name:gid") into ids, with the container's
// /etc/passwd and /etc/group (either may be nil when missing). A name must
// exist; a number need not (it then has GID 0 unless one is given, and home /).
// Supplementary groups are the groups that list the user's name.
func resolveUser(spec string, passwd, group io.Reader) (execUser, error) {
	users, err := parsePasswd(passwd)
	if err != nil {
		return execUser{}, fmt.Errorf("read /etc/passwd: %w", err)
	}
	groups, err := parseGroup(group)
	if err != nil {
		return execUser{}, fmt.Errorf("read /etc/group: %w", err)
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u, err := lookupUser(userPart, users)
	if err != nil {
		return execUser{}, err
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, groups)
		if err != nil {
			return execUser{}, err
		}
		u.GID = gid
	}
	u.Groups = memberGroups(userName(u.UID, userPart, users), u.GID, groups)
	return u, nil
}

// lookupUser finds a user by name or number.
func lookupUser(s string, users []passwdEntry) (execUser, error) {
	uid, numErr := parseID(s)
	for _, e := range users {
		if (numErr == nil && e.UID == uid) || (numErr != nil && e.Name == s) {
			home := e.Home
			if home == "" {
				home = "/"
			}
			return execUser{UID: e.UID, GID: e.GID, Home: home}, nil
		}
	}
	if numErr != nil {
		return execUser{}, fmt.Errorf("user %q not found in the image's /etc/passwd: use a uid or a user the image defines", s)
	}
	return execUser{UID: uid, Home: "/"}, nil
}

// lookupGroup finds a group by name or number.
func lookupGroup(s string, groups []groupEntry) (uint32, error) {
	if gid, err := parseID(s); err == nil {
		return gid, nil
	}
	for _, g := range groups {
		if g.Name == s {
			return g.GID, nil
		}
	}
	return 0, fmt.Errorf("group %q not found in the image's /etc/group: use a gid or a group the image defines", s)
}

// userName is the passwd name of uid, or "" when it has none.
func userName(uid uint32, asked string, users []passwdEntry) string {
	for _, e := range users {
		if e.UID == uid && (e.Name == asked || asked == strconv.FormatUint(uint64(uid), 10)) {
			return e.Name
		}
	}
	return ""
}

// memberGroups lists the gids of the groups that name the user as a member.
func memberGroups(name string, primary uint32, groups []groupEntry) []uint32 {
	if name == "" {
		return nil
	}
	var out []uint32
	seen := map[uint32]bool{primary: true}
	for _, g := range groups {
		for _, m := range g.Members {
			if m == name && !seen[g.GID] {
				seen[g.GID] = true
				out = append(out, g.GID)
			}
		}
	}
	return out
}
