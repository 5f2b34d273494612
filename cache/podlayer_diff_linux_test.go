//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// describeTree is one line per path under root (root itself left out):
// kind, mode, owner, size, mtime, content digest, link target, xattrs, and
// which earlier path shares its inode.
func describeTree(t testing.TB, root string) []string {
	t.Helper()
	var lines []string
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		line := extDescribe(t, root, p)
		st := extLstat(t, p)
		rel, _ := filepath.Rel(root, p)
		if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
			if first, ok := inodes[st.Ino]; ok {
				line += " hardlink-of=" + first
			} else {
				inodes[st.Ino] = rel
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// diffOf is DiffTree's tar of root against idx.
func diffOf(t testing.TB, idx *TreeIndex, root string) ([]byte, bool) {
	t.Helper()
	var buf bytes.Buffer
	changed, err := DiffTree(context.Background(), idx, root, &buf)
	if err != nil {
		t.Fatalf("DiffTree: %v", err)
	}
	return buf.Bytes(), changed
}

// diffNames lists the entry names of a tar, with "->target" for links.
func diffNames(t testing.TB, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		n := h.Name
		if h.Typeflag == tar.TypeLink {
			n += "=>" + h.Linkname
		}
		names = append(names, n)
	}
}

func indexOf(t testing.TB, root string) *TreeIndex {
	t.Helper()
	idx, err := IndexTree(root)
	if err != nil {
		t.Fatalf("IndexTree: %v", err)
	}
	return idx
}

func TestDiffTreeUnchanged(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root, extDir("a/"), extReg("a/f", "x"), extSym("s", "a/f"), extNode(tar.TypeFifo, "fifo", 0, 0))
	idx := indexOf(t, root)
	if idx.Len() != 4 {
		t.Errorf("index has %d entries, want 4: %v", idx.Len(), idx.Entries())
	}
	b, changed := diffOf(t, idx, root)
	if changed || len(diffNames(t, b)) != 0 {
		t.Errorf("untouched tree: changed=%v, entries %v", changed, diffNames(t, b))
	}
}

func TestDiffTreeEntries(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root,
		extDir("src/"), extDir("src/deep/"), extDir("src/deep/er/"), extReg("src/deep/er/f", "f"),
		extReg("src/same", "s"), extDir("old/"), extDir("old/sub/"), extReg("old/sub/x", "x"),
		extReg("rm", "r"), extReg("touch", "t"), extReg("chmod", "c"), extReg("linked", "l"))
	idx := indexOf(t, root)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "src/deep/er/new"), []byte("n"), 0o644))
	must(os.RemoveAll(filepath.Join(root, "old")))
	must(os.Remove(filepath.Join(root, "rm")))
	// Same size, mtime set back: only the ctime tells.
	must(os.WriteFile(filepath.Join(root, "touch"), []byte("T"), 0o644))
	must(os.Chtimes(filepath.Join(root, "touch"), extEpoch, extEpoch))
	must(os.Chmod(filepath.Join(root, "chmod"), 0o600))
	must(os.Link(filepath.Join(root, "linked"), filepath.Join(root, "a-link")))
	must(unix.Mknod(filepath.Join(root, "sock"), unix.S_IFSOCK|0o644, 0)) // no tar form: left out

	b, changed := diffOf(t, idx, root)
	want := []string{".wh.old", ".wh.rm", "a-link", "chmod", "linked=>a-link",
		"src/", "src/deep/", "src/deep/er/", "src/deep/er/new", "touch"}
	if got := diffNames(t, b); !changed || !cmp.Equal(got, want) {
		t.Errorf("diff entries (changed=%v) -want +got:\n%s", changed, cmp.Diff(want, got))
	}
	again, _ := diffOf(t, idx, root)
	if !bytes.Equal(b, again) {
		t.Error("two diffs of the same tree differ")
	}
}

func TestDiffTreeTypeChanges(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root, extReg("f2d", "x"), extDir("d2f/"), extReg("d2f/inner", "i"), extReg("f2s", "y"))
	idx := indexOf(t, root)
	os.Remove(filepath.Join(root, "f2d"))
	os.Mkdir(filepath.Join(root, "f2d"), 0o755)
	os.RemoveAll(filepath.Join(root, "d2f"))
	os.WriteFile(filepath.Join(root, "d2f"), []byte("file now"), 0o644)
	os.Remove(filepath.Join(root, "f2s"))
	os.Symlink("/etc/passwd", filepath.Join(root, "f2s"))
	b, _ := diffOf(t, idx, root)
	if got, want := diffNames(t, b), []string{"d2f", "f2d/", "f2s"}; !cmp.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
}

func TestDiffTreeDoesNotFollowSymlinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	idx := indexOf(t, root)
	os.Symlink(outside, filepath.Join(root, "out"))
	b, _ := diffOf(t, idx, root)
	if bytes.Contains(b, []byte("secret")) {
		t.Fatal("the diff holds a file from outside the tree")
	}
	if got := diffNames(t, b); !cmp.Equal(got, []string{"out"}) {
		t.Errorf("entries %v", got)
	}
}

// TestApplyDiffRoundTrip is the property the pods rely on: apply L1 onto
// T, index, change the tree at random, diff into L2; then L1 and L2 applied
// onto a fresh copy of T give the changed tree exactly.
func TestApplyDiffRoundTrip(t *testing.T) {
	for seed := int64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			base := randomLayer(rng, "base")
			l1 := randomLayer(rng, "l1")
			work := t.TempDir()
			mustApply(t, work, base...)
			mustApply(t, work, l1...)
			idx := indexOf(t, work)
			mutateTree(t, rng, work, 25)
			want := describeTree(t, work)
			l2, _ := diffOf(t, idx, work)
			if err := validateTar(l2); err != nil {
				t.Fatalf("L2 is no valid tar: %v", err)
			}

			fresh := t.TempDir()
			mustApply(t, fresh, base...)
			mustApply(t, fresh, l1...)
			if err := ApplyLayer(context.Background(), bytes.NewReader(l2), fresh); err != nil {
				t.Fatalf("apply L2: %v\nL2: %v", err, diffNames(t, l2))
			}
			if got := describeTree(t, fresh); !cmp.Equal(got, want) {
				t.Errorf("tree after L1+L2 -want(mutated) +got:\n%s\nL2: %v", cmp.Diff(want, got), diffNames(t, l2))
			}
		})
	}
}

func validateTar(b []byte) error {
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		if _, err := tr.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// randomLayer is a layer of a few dirs, files, symlinks and hardlinks,
// every dir with its header (so that its mtime is the layer's).
func randomLayer(rng *rand.Rand, tag string) []extEntry {
	var ents []extEntry
	dirs := []string{""}
	var files []string
	for i := 0; i < 12+rng.Intn(12); i++ {
		parent := dirs[rng.Intn(len(dirs))]
		name := fmt.Sprintf("%s%s%d", parent, []string{"d", "f", "s", "h"}[rng.Intn(4)], rng.Intn(6))
		switch name[len(parent)] {
		case 'd':
			e := extDir(name + "/")
			e.Mode = []int64{0o755, 0o700, 0o775}[rng.Intn(3)]
			ents, dirs = append(ents, e), append(dirs, name+"/")
		case 'f':
			e := extReg(name, strings.Repeat(tag, rng.Intn(200)))
			e.Mode = []int64{0o644, 0o755, 0o600}[rng.Intn(3)]
			ents, files = append(ents, e), append(files, name)
		case 's':
			ents = append(ents, extSym(name, []string{"../x", "/etc", "f0", "d1/f2"}[rng.Intn(4)]))
		case 'h':
			if len(files) > 0 {
				ents = append(ents, extLink(name, files[rng.Intn(len(files))]))
			}
		}
	}
	return ents
}

// mutateTree changes the tree at random n times, as a step's script might.
func mutateTree(t *testing.T, rng *rand.Rand, root string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		paths := treePaths(t, root)
		p := filepath.Join(root, paths[rng.Intn(len(paths))])
		fi, _ := os.Lstat(p)
		isDir := fi != nil && fi.IsDir()
		newName := filepath.Join(p, fmt.Sprintf("n%d", i))
		if !isDir {
			newName = filepath.Join(filepath.Dir(p), fmt.Sprintf("n%d", i))
		}
		switch rng.Intn(11) {
		case 0:
			os.WriteFile(newName, []byte(strings.Repeat("new", rng.Intn(100))), 0o644)
		case 1:
			if !isDir && fi.Mode().IsRegular() { // same size, mtime restored: ctime only
				b, _ := os.ReadFile(p)
				for j := range b {
					b[j] ^= 1
				}
				os.WriteFile(p, b, 0)
				os.Chtimes(p, fi.ModTime(), fi.ModTime())
			}
		case 2:
			if p != root {
				os.RemoveAll(p)
			}
		case 3:
			os.Mkdir(newName, 0o750)
		case 4:
			os.Symlink("target"+fmt.Sprint(i), newName)
		case 5:
			if !isDir && fi.Mode().IsRegular() {
				os.Link(p, newName)
			}
		case 6:
			if p != root && !isDir {
				os.Remove(p)
				os.Mkdir(p, 0o700)
				os.WriteFile(filepath.Join(p, "in"), []byte("in"), 0o600)
			}
		case 7:
			if p != root && isDir {
				os.RemoveAll(p)
				os.WriteFile(p, []byte("was a dir"), 0o644)
			}
		case 8:
			if fi != nil && fi.Mode()&os.ModeSymlink == 0 {
				os.Chmod(p, []os.FileMode{0o700, 0o755, 0o640}[rng.Intn(3)])
			}
		case 9:
			if p != root {
				os.Rename(p, newName+"-moved")
			}
		case 10:
			if extIsRoot() {
				os.Lchown(p, 1000+rng.Intn(3), 2000+rng.Intn(3))
			}
		}
	}
}

// treePaths lists the root ("") and every path under it.
func treePaths(t *testing.T, root string) []string {
	t.Helper()
	paths := []string{""}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			paths = append(paths, rel)
		}
		return nil
	})
	sort.Strings(paths)
	return paths
}

func TestDiffTreeOpenRegularRefusesSwaps(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "g"), []byte("y"), 0o644)
	dfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dfd)
	st := extLstat(t, filepath.Join(root, "f"))
	if f, err := openRegular(dfd, "f", st); err != nil {
		t.Fatalf("the file itself: %v", err)
	} else {
		f.Close()
	}
	if _, err := openRegular(dfd, "g", st); err == nil || !strings.Contains(err.Error(), "replaced while") {
		t.Errorf("another inode: %v", err)
	}
	os.Remove(filepath.Join(root, "f"))
	if err := unix.Mkfifo(filepath.Join(root, "f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openRegular(dfd, "f", st); err == nil { // must not block on the fifo
		t.Error("a fifo in place of the file was opened")
	}
}

// TestDiffTreeReadByTheExtractor: the coordinator reads a pod's diff back
// with the extractor, as an overlay upper dir; every kind of entry a diff
// holds goes through it, whiteouts becoming overlay whiteouts.
func TestDiffTreeReadByTheExtractor(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root, extDir("d/"), extReg("d/gone", "g"), extReg("f", "f"), extDir("rmdir/"), extReg("rmdir/x", "x"))
	idx := indexOf(t, root)
	os.Remove(filepath.Join(root, "d/gone"))
	os.RemoveAll(filepath.Join(root, "rmdir"))
	os.WriteFile(filepath.Join(root, "d/new"), []byte("n"), 0o644)
	os.Link(filepath.Join(root, "d/new"), filepath.Join(root, "d/new-link"))
	os.Symlink("../f", filepath.Join(root, "d/sym"))
	unix.Mkfifo(filepath.Join(root, "fifo"), 0o600)
	b, _ := diffOf(t, idx, root)

	s := newExtSandbox(t)
	if _, err := s.extract(b, extractOptions{Layer: "sha256:diff", Root: extIsRoot()}); err != nil {
		t.Fatalf("the extractor refuses the diff: %v\nentries: %v", err, diffNames(t, b))
	}
	for _, p := range []string{"d/gone", "rmdir"} {
		st := extLstat(t, filepath.Join(s.root, p))
		xattrs, _ := readXattrs(filepath.Join(s.root, p))
		if !isWhiteout(st, xattrs) {
			t.Errorf("%s is no overlay whiteout in the upper dir: mode %o xattrs %v", p, st.Mode, xattrs)
		}
	}
	if extLstat(t, filepath.Join(s.root, "d/new")).Ino != extLstat(t, filepath.Join(s.root, "d/new-link")).Ino {
		t.Error("the hardlink did not survive")
	}
	extWantLink(t, filepath.Join(s.root, "d/sym"), "../f")
	s.checkOutside(t)
}
