package workspace

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// hashCacheHeader starts a hash cache file; a file with another header is
// ignored (and rewritten).
const hashCacheHeader = "pipe.hashcache/v1\n"

// statKey is what a cached hash is valid for: the file's identity and the
// stat fields that change when its content does.
//
// Like git's index with core.trustctime=false, the ctime is not compared:
// making a snapshot hard-links every file (and removing an old snapshot
// unlinks them), which changes the ctime of the user's files on every run,
// so comparing it would rehash everything every time. A content change that
// keeps size, mtime (to the nanosecond) and inode is therefore not seen; tools
// that restore mtimes (tar, rsync -t, touch -r) on a file of the same size
// are the known way to get there. Racy files (see hashCache) are rehashed.
type statKey struct {
	size  int64
	mtime int64 // ns
	ino   uint64
	mode  uint32
}

// cachedHash is one entry of the hash cache.
type cachedHash struct {
	stat statKey
	sum  [32]byte
}

// hashCache maps repo-relative paths to the sha256 of their content, valid
// while their statKey is unchanged. It is loaded from a file and written back
// atomically (temp file + rename). Entries whose mtime falls in the same
// second as (or after) the cache file's own mtime are "racily clean": the
// file may have changed again within the timestamp's granularity after it was
// hashed, so they are not trusted (git's racy-git rule).
type hashCache struct {
	path    string
	entries map[string]cachedHash
	written time.Time // the cache file's mtime
}

// loadHashCache reads path; a missing, empty-named or unreadable file is an
// empty cache (a cache is only ever an optimisation).
func loadHashCache(path string) *hashCache {
	c := &hashCache{path: path, entries: map[string]cachedHash{}}
	if path == "" {
		return c
	}
	st, err := os.Stat(path)
	if err != nil {
		return c
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte(hashCacheHeader)) {
		return c
	}
	c.written = st.ModTime()
	parseHashCache(b[len(hashCacheHeader):], c.entries)
	return c
}

// parseHashCache reads "path\x00size mtime ino mode hex\n" records.
func parseHashCache(b []byte, into map[string]cachedHash) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return
		}
		name := string(b[:i])
		b = b[i+1:]
		j := bytes.IndexByte(b, '\n')
		if j < 0 {
			return
		}
		if e, ok := parseCachedHash(b[:j]); ok {
			into[name] = e
		}
		b = b[j+1:]
	}
}

// parseCachedHash parses "size mtime ino mode hex".
func parseCachedHash(b []byte) (cachedHash, bool) {
	f := bytes.Fields(b)
	if len(f) != 5 {
		return cachedHash{}, false
	}
	var e cachedHash
	var err [4]error
	e.stat.size, err[0] = strconv.ParseInt(string(f[0]), 10, 64)
	e.stat.mtime, err[1] = strconv.ParseInt(string(f[1]), 10, 64)
	e.stat.ino, err[2] = strconv.ParseUint(string(f[2]), 10, 64)
	mode, err3 := strconv.ParseUint(string(f[3]), 8, 32)
	e.stat.mode, err[3] = uint32(mode), err3
	if errors.Join(err[:]...) != nil || hex.DecodedLen(len(f[4])) != 32 {
		return cachedHash{}, false
	}
	if _, err := hex.Decode(e.sum[:], f[4]); err != nil {
		return cachedHash{}, false
	}
	return e, true
}

// lookup returns the cached hash of name if st still matches and is not racy.
func (c *hashCache) lookup(name string, st statKey) ([32]byte, bool) {
	e, ok := c.entries[name]
	if !ok || e.stat != st {
		return [32]byte{}, false
	}
	if c.written.IsZero() || st.mtime/1e9 >= c.written.Unix() {
		return [32]byte{}, false
	}
	return e.sum, true
}

// save writes entries (only those of the current snapshot) to c.path
// atomically. A cache that cannot be written is not an error for the run;
// the caller turns the error into a note.
func (c *hashCache) save(files []wsFile) error {
	if c.path == "" || !c.changed(files) {
		return nil
	}
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("hash cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hashcache-*")
	if err != nil {
		return fmt.Errorf("hash cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: no-op
	w := bufio.NewWriterSize(tmp, 256<<10)
	w.WriteString(hashCacheHeader)
	for _, f := range files {
		if f.cacheable {
			s := f.stat
			fmt.Fprintf(w, "%s\x00%d %d %d %o %x\n", f.path, s.size, s.mtime, s.ino, s.mode, f.sum)
		}
	}
	if err := errors.Join(w.Flush(), tmp.Close()); err != nil {
		return fmt.Errorf("hash cache: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("hash cache: %w", err)
	}
	return nil
}

// changed reports whether the cache must be written: a hash was computed
// (a new or changed file, or a racily clean one, which a cache written in a
// later second will trust), or the set of files differs. In the steady
// state nothing is hashed and the cache is not rewritten.
func (c *hashCache) changed(files []wsFile) bool {
	n := 0
	for i := range files {
		f := &files[i]
		if f.hashed {
			return true
		}
		if f.cacheable {
			n++
		}
	}
	return n != len(c.entries)
}

// statKeyOf extracts the cache key of fi (from Lstat).
func statKeyOf(fi fs.FileInfo) statKey {
	k := statKey{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: uint32(fi.Mode())}
	k.ino = inodeOf(fi)
	return k
}
