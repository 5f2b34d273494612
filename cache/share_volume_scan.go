package cache

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// A cache volume travels as VolumeBuckets layers. A file goes to the bucket
// of its directory's first three path components (so the files of one
// module, package or cache dir change together, and an unchanged bucket keeps
// its digest and does not travel). Each bucket is a reproducible tar: names
// sorted, parent dirs before their entries, numeric owners, file mtimes kept
// (tools trim caches by them), dir mtimes zeroed (a dir is in several
// buckets, and its mtime changes with any of them). Regular files, dirs and
// symlinks are kept; sockets, devices and fifos are not caches.
const VolumeBuckets = 16

// volEntry is one entry of a scanned volume.
type volEntry struct {
	rel    string // slash-separated, relative to the volume
	mode   fs.FileMode
	uid    int
	gid    int
	size   int64
	mtime  time.Time
	link   string
	bucket int
}

// volScan is a volume as it is now, in buckets.
type volScan struct {
	buckets [VolumeBuckets][]*volEntry // files and symlinks, sorted
	prints  [VolumeBuckets]string      // fingerprint of each bucket (stat data, not content)
	size    int64                      // bytes of the files kept
	dropped int                        // files left out by the size cap
	dropB   int64                      // their bytes
}

// scanVolume lists dir, leaving out the oldest files while the total is over
// max bytes (max <= 0: no cap).
func scanVolume(dir string, max int64) (*volScan, error) {
	var files []*volEntry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir || d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() && d.Type() != fs.ModeSymlink {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := &volEntry{rel: filepath.ToSlash(rel), mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.uid, e.gid = int(st.Uid), int(st.Gid)
		}
		if e.mode&fs.ModeSymlink != 0 {
			e.size = 0
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		files = append(files, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan volume %s: %w", dir, err)
	}
	vs := &volScan{}
	files = vs.applyCap(files, max)
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	for _, e := range files {
		e.bucket = bucketOf(e.rel)
		vs.buckets[e.bucket] = append(vs.buckets[e.bucket], e)
		vs.size += e.size
	}
	for i := range vs.buckets {
		vs.prints[i] = fingerprint(vs.buckets[i])
	}
	return vs, nil
}

// applyCap drops the oldest files (by mtime, then name) until the rest fit.
func (vs *volScan) applyCap(files []*volEntry, max int64) []*volEntry {
	var total int64
	for _, e := range files {
		total += e.size
	}
	if max <= 0 || total <= max {
		return files
	}
	sort.Slice(files, func(i, j int) bool {
		if !files[i].mtime.Equal(files[j].mtime) {
			return files[i].mtime.Before(files[j].mtime)
		}
		return files[i].rel < files[j].rel
	})
	i := 0
	for ; i < len(files) && total > max; i++ {
		total -= files[i].size
		vs.dropped++
		vs.dropB += files[i].size
	}
	return files[i:]
}

// bucketOf is the bucket of a file: a hash of its dir's first three
// components.
func bucketOf(rel string) int {
	dir := ""
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir = rel[:i]
	}
	parts := strings.SplitN(dir, "/", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return int(sum[0]) % VolumeBuckets
}

// fingerprint digests the stat data of a bucket's entries: equal prints mean
// an unchanged bucket (as git's index assumes of unchanged stat data).
func fingerprint(es []*volEntry) string {
	h := sha256.New()
	for _, e := range es {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d\x00%d\x00%d\x00%s\n", e.rel, e.mode, e.uid, e.gid, e.size, e.mtime.UnixNano(), e.link)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeBucket writes bucket's tar: every parent dir once, then the entries.
func writeBucket(w io.Writer, dir string, es []*volEntry) error {
	tw := tar.NewWriter(w)
	seen := map[string]bool{}
	for _, e := range es {
		if err := writeParents(tw, dir, e.rel, seen); err != nil {
			return err
		}
		if err := writeVolEntry(tw, dir, e); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeParents writes the dirs above rel not yet written.
func writeParents(tw *tar.Writer, dir, rel string, seen map[string]bool) error {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		d := strings.Join(parts[:i], "/")
		if seen[d] {
			continue
		}
		seen[d] = true
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(d)))
		if err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: int64(fi.Mode().Perm()), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return nil
}

// writeVolEntry writes one file or symlink as scanned. A file that changed
// size since the scan fails the bucket: it is pushed by a later run.
func writeVolEntry(tw *tar.Writer, dir string, e *volEntry) error {
	h := &tar.Header{Name: e.rel, Mode: int64(e.mode.Perm()), Uid: e.uid, Gid: e.gid, ModTime: e.mtime, Format: tar.FormatPAX}
	if e.mode&fs.ModeSymlink != 0 {
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		return tw.WriteHeader(h)
	}
	h.Typeflag, h.Size = tar.TypeReg, e.size
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(e.rel)))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, e.size); err != nil {
		return fmt.Errorf("%s changed while it was pushed: %w", e.rel, err)
	}
	return nil
}
