package workspace

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// hashCacheHeader starts a hash cache file (hashCacheHeaderV1: the text
// format of earlier versions, still read); a file with another header is
// ignored (and rewritten).
const (
	hashCacheHeader   = "pipe.hashcache/v2\n"
	hashCacheHeaderV1 = "pipe.hashcache/v1\n"
)

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
	path string
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
	entries []cachedHash // sorted by path
	written time.Time    // the cache file's mtime
	old     bool         // read from the v1 format: rewrite it
}

// loadHashCache reads path; a missing, empty-named or unreadable file is an
// empty cache (a cache is only ever an optimisation).
func loadHashCache(path string) *hashCache {
	c := &hashCache{path: path}
	if path == "" {
		return c
	}
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return c
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return c
	}
	switch {
	case bytes.HasPrefix(b, []byte(hashCacheHeader)):
		// The paths are substrings of b, which nothing writes to again: a
		// string of it without the copy (the file is ~60 bytes a file).
		rest := b[len(hashCacheHeader):]
		c.entries = parseHashCache(unsafe.String(unsafe.SliceData(rest), len(rest)))
	case bytes.HasPrefix(b, []byte(hashCacheHeaderV1)):
		c.entries, c.old = parseHashCacheV1(b[len(hashCacheHeaderV1):]), true
	default:
		return c
	}
	c.written = st.ModTime()
	if !slices.IsSortedFunc(c.entries, compareCachedHash) {
		slices.SortFunc(c.entries, compareCachedHash)
	}
	return c
}

func compareCachedHash(a, b cachedHash) int { return strings.Compare(a.path, b.path) }

// parseHashCache reads the records of the binary format: per file, the
// uvarint length of its path, the path, uvarints size, mtime (zigzag), ino
// and mode, and the 32 bytes of its sha256. Paths are substrings of b (one
// allocation for them all). It stops at the first malformed record.
func parseHashCache(b string) []cachedHash {
	// Sized first: growing the slice by appends would touch (and fault in)
	// twice the memory of the result, and copy it on the way.
	n := 0
	for rest := b; ; n++ {
		var ok bool
		if _, rest, ok = nextHashRecord(rest); !ok {
			break
		}
	}
	out := make([]cachedHash, 0, n)
	for {
		e, rest, ok := nextHashRecord(b)
		if !ok {
			return out
		}
		out, b = append(out, e), rest
	}
}

// nextHashRecord reads the record at the start of b; ok is false at the
// end of b or at a malformed record.
func nextHashRecord(b string) (e cachedHash, rest string, ok bool) {
	n, w := uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return e, "", false
	}
	e.path = b[w : w+int(n)]
	b = b[w+int(n):]
	var v [4]uint64
	for i := range v {
		if v[i], w = uvarint(b); w <= 0 {
			return e, "", false
		}
		b = b[w:]
	}
	if len(b) < 32 {
		return e, "", false
	}
	e.stat = statKey{size: int64(v[0]), mtime: int64(v[1]>>1) ^ -int64(v[1]&1), ino: v[2], mode: uint32(v[3])}
	copy(e.sum[:], b[:32])
	return e, b[32:], true
}

// uvarint decodes a uvarint from the start of s, as binary.Uvarint does.
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<(7*i), i + 1
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	return 0, 0
}

// parseHashCacheV1 reads "path\x00size mtime ino mode hex\n" records.
func parseHashCacheV1(b []byte) []cachedHash {
	var out []cachedHash
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return out
		}
		name := string(b[:i])
		b = b[i+1:]
		j := bytes.IndexByte(b, '\n')
		if j < 0 {
			return out
		}
		if e, ok := parseCachedHash(b[:j]); ok {
			e.path = name
			out = append(out, e)
		}
		b = b[j+1:]
	}
	return out
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
	i, ok := slices.BinarySearchFunc(c.entries, name, func(e cachedHash, name string) int { return strings.Compare(e.path, name) })
	if !ok || c.entries[i].stat != st {
		return [32]byte{}, false
	}
	if c.written.IsZero() || st.mtime/1e9 >= c.written.Unix() {
		return [32]byte{}, false
	}
	return c.entries[i].sum, true
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
	var rec []byte
	for _, f := range files {
		if f.cacheable {
			s := f.stat
			rec = binary.AppendUvarint(rec[:0], uint64(len(f.path)))
			rec = append(rec, f.path...)
			rec = binary.AppendUvarint(rec, uint64(s.size))
			rec = binary.AppendVarint(rec, s.mtime)
			rec = binary.AppendUvarint(rec, s.ino)
			rec = binary.AppendUvarint(rec, uint64(s.mode))
			w.Write(append(rec, f.sum[:]...))
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
	if c.old {
		return true
	}
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
