package workspace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listingHeader starts a listing file; another header is ignored.
const listingHeader = "pipe.listing/v1\n"

// loadListing reads a listing file; false if missing or not one.
func loadListing(path string) (*listing, bool) {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte(listingHeader)) {
		return nil, false
	}
	return parseListing(b[len(listingHeader):])
}

// parseListing reads what save writes after the header: "env taken n m\n",
// n records "kind size mtime ino mode path NUL", m config paths each ended by
// NUL, then git's output.
func parseListing(b []byte) (*listing, bool) {
	line, rest, ok := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if !ok || len(f) != 4 {
		return nil, false
	}
	l := &listing{env: f[0]}
	var err [3]error
	var n, m int
	l.taken, err[0] = strconv.ParseInt(f[1], 10, 64)
	n, err[1] = strconv.Atoi(f[2])
	m, err[2] = strconv.Atoi(f[3])
	if errors.Join(err[:]...) != nil || n < 0 || m < 0 {
		return nil, false
	}
	for i := 0; i < n+m; i++ {
		rec, more, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			return nil, false
		}
		rest = more
		if i >= n {
			l.config = append(l.config, string(rec))
			continue
		}
		w, ok := parseWatched(string(rec))
		if !ok {
			return nil, false
		}
		l.watched = append(l.watched, w)
	}
	l.out = rest
	return l, true
}

// parseWatched parses "kind size mtime ino mode path"; kind is d or f, in
// capitals when the path was missing.
func parseWatched(rec string) (watchedStat, bool) {
	f := strings.SplitN(rec, " ", 6)
	if len(f) != 6 || len(f[0]) != 1 || !strings.Contains("dDfF", f[0]) || !filepath.IsAbs(f[5]) {
		return watchedStat{}, false
	}
	w := watchedStat{path: f[5], dir: f[0] == "d" || f[0] == "D", missing: f[0] == "D" || f[0] == "F"}
	var err [4]error
	w.stat.size, err[0] = strconv.ParseInt(f[1], 10, 64)
	w.stat.mtime, err[1] = strconv.ParseInt(f[2], 10, 64)
	w.stat.ino, err[2] = strconv.ParseUint(f[3], 10, 64)
	mode, err3 := strconv.ParseUint(f[4], 8, 32)
	w.stat.mode, err[3] = uint32(mode), err3
	return w, errors.Join(err[:]...) == nil
}

// save writes l to path atomically.
func (l *listing) save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".listing-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: no-op
	w := bufio.NewWriterSize(tmp, 64<<10)
	fmt.Fprintf(w, "%s%s %d %d %d\n", listingHeader, l.env, l.taken, len(l.watched), len(l.config))
	for _, s := range l.watched {
		kind := "f"
		if s.dir {
			kind = "d"
		}
		if s.missing {
			kind = strings.ToUpper(kind)
		}
		fmt.Fprintf(w, "%s %d %d %d %o %s\x00", kind, s.stat.size, s.stat.mtime, s.stat.ino, s.stat.mode, s.path)
	}
	for _, p := range l.config {
		fmt.Fprintf(w, "%s\x00", p)
	}
	w.Write(l.out)
	if err := errors.Join(w.Flush(), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
