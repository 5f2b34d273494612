package workspace

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDirFDsLstat checks that a scan's stat of a regular file is the one
// os.Lstat gives (the hash cache is keyed by it), and that it leaves every
// other kind of path to os.Lstat.
func TestDirFDsLstat(t *testing.T) {
	root := t.TempDir()
	wsWrite(t, root, map[string]string{"f": "x", "d/exec": "#!", "d/e/setuid": "s", "d/e/sticky": "t"})
	os.Chmod(filepath.Join(root, "d/exec"), 0o751)
	os.Chmod(filepath.Join(root, "d/e/setuid"), 0o4755|os.ModeSetuid|os.ModeSetgid)
	os.Chmod(filepath.Join(root, "d/e/sticky"), 0o644|os.ModeSticky)
	os.Symlink("f", filepath.Join(root, "link"))
	os.Symlink("d", filepath.Join(root, "dlink"))
	syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644)
	d := &dirFDs{root: root}
	defer d.close()
	for _, rel := range []string{"f", "d/exec", "d/e/setuid", "d/e/sticky", "dlink/exec"} {
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := d.lstatRegular(rel)
		if rel == "dlink/exec" && !ok {
			continue // through a symlinked directory: os.Lstat's way, also right
		}
		if want := statKeyOf(fi); !ok || got != want {
			t.Errorf("%s: %+v %v, os.Lstat gives %+v", rel, got, ok, want)
		}
	}
	for _, rel := range []string{"link", "d", "d/e", "fifo", "missing", "missing/x", "f/x"} {
		if k, ok := d.lstatRegular(rel); ok {
			t.Errorf("%s: taken as a regular file: %+v", rel, k)
		}
	}
}
