package isolation

import "io"

// ResolvedUser is who a Process.User names in a root filesystem.
type ResolvedUser struct {
	UID, GID uint32
	Groups   []uint32 // supplementary groups, without GID
}

// ResolveUser resolves a Process.User ("", "uid", "uid:gid", "name",
// "name:group", ...) with a root filesystem's /etc/passwd and /etc/group
// (either may be nil when missing), by the rules a container of this
// runtime follows, for a process that runs elsewhere (a pod) and takes
// numeric ids only.
func ResolveUser(user string, passwd, group io.Reader) (ResolvedUser, error) {
	u, err := resolveUser(user, passwd, group)
	if err != nil {
		return ResolvedUser{}, err
	}
	return ResolvedUser{UID: u.UID, GID: u.GID, Groups: u.Groups}, nil
}
