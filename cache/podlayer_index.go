package cache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The tree index file, version 1: the line "pipe.treeindex/v1\n", the
// number of entries (uvarint), each entry (path, mode, uid, gid, size,
// mtime, ctime, inode, link target: strings as uvarint length and bytes,
// signed numbers as varints, the rest as uvarints), then the sha256 of every
// byte before it, so that a truncated or damaged file is refused whole.
const (
	indexMagic   = "pipe.treeindex/v1\n"
	indexMaxStr  = 1 << 16 // bound on a path or link target read back
	indexMaxEnts = 1 << 28
	// minEntryBytes is the least an entry takes: seven numbers and two
	// string lengths of one byte each, and a path of one.
	minEntryBytes = 10
)

// WriteTo writes the index in its file form.
func (idx *TreeIndex) WriteTo(w io.Writer) (int64, error) {
	h := sha256.New()
	cw := &hashWriter{w: w, h: h}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var b []byte
	b = append(b, indexMagic...)
	b = binary.AppendUvarint(b, uint64(len(idx.entries)))
	for _, e := range idx.Entries() {
		b = appendIndexEntry(b, &e)
		if len(b) > 32<<10 {
			if _, err := bw.Write(b); err != nil {
				return cw.n, err
			}
			b = b[:0]
		}
	}
	if _, err := bw.Write(b); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	n, err := w.Write(h.Sum(nil))
	return cw.n + int64(n), err
}

func appendIndexEntry(b []byte, e *TreeEntry) []byte {
	b = appendIndexString(b, e.Path)
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendUvarint(b, uint64(e.UID))
	b = binary.AppendUvarint(b, uint64(e.GID))
	b = binary.AppendVarint(b, e.Size)
	b = binary.AppendVarint(b, e.Mtime)
	b = binary.AppendVarint(b, e.Ctime)
	b = binary.AppendUvarint(b, e.Ino)
	return appendIndexString(b, e.Link)
}

func appendIndexString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ReadTreeIndex reads an index written by WriteTo. A file of another
// version is ErrIndexVersion; a damaged one is an error saying so.
func ReadTreeIndex(r io.Reader) (*TreeIndex, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read the tree index: %w", err)
	}
	if !bytes.HasPrefix(data, []byte(indexMagic)) {
		line, _, _ := bytes.Cut(data[:min(len(data), 40)], []byte("\n"))
		return nil, fmt.Errorf("%w: it starts with %q, this pipe reads %q", ErrIndexVersion, line, indexMagic[:len(indexMagic)-1])
	}
	if len(data) < len(indexMagic)+sha256.Size {
		return nil, errors.New("tree index is truncated")
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, errors.New("tree index is damaged or truncated: its checksum does not match")
	}
	d := &indexDecoder{b: body[len(indexMagic):]}
	n := d.uvarint()
	if n > indexMaxEnts {
		return nil, fmt.Errorf("tree index claims %d entries", n)
	}
	entries := make([]TreeEntry, 0, min(n, uint64(len(d.b)/minEntryBytes))) // no allocation the data cannot fill
	for i := uint64(0); i < n && d.err == nil; i++ {
		entries = append(entries, d.entry())
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the last entry", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("tree index is malformed: %w", d.err)
	}
	return newTreeIndex(entries)
}

// indexDecoder reads the fields of an index body; the first error sticks.
type indexDecoder struct {
	b   []byte
	err error
}

func (d *indexDecoder) entry() TreeEntry {
	e := TreeEntry{Path: d.str()}
	e.Mode, e.UID, e.GID = d.uint32(), d.uint32(), d.uint32()
	e.Size, e.Mtime, e.Ctime = d.varint(), d.varint(), d.varint()
	e.Ino = d.uvarint()
	e.Link = d.str()
	return e
}

func (d *indexDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errors.New("bad number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) uint32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 && d.err == nil {
		d.err = fmt.Errorf("number %d out of range", v)
	}
	return uint32(v)
}

func (d *indexDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > indexMaxStr || n > uint64(len(d.b)) {
		d.err = fmt.Errorf("string of %d bytes", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Save writes the index to the file p atomically: a temp file in the same
// dir, synced, then renamed over p.
func (idx *TreeIndex) Save(p string) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".treeindex-*")
	if err != nil {
		return fmt.Errorf("save the tree index: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	_, err = idx.WriteTo(f)
	if err == nil {
		err = f.Chmod(0o644) // not secret; readable by whichever agent diffs
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("save the tree index %s: %w", p, err)
	}
	return nil
}

// LoadTreeIndex reads the index file p written by Save.
func LoadTreeIndex(p string) (*TreeIndex, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("load the tree index: %w", err)
	}
	defer f.Close()
	idx, err := ReadTreeIndex(f)
	if err != nil {
		return nil, fmt.Errorf("load the tree index %s: %w", p, err)
	}
	return idx, nil
}
