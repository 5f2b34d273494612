package cache

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/internal/testregistry"
)

// fillVolume writes files (path: body) into the named volume.
func fillVolume(t testing.TB, s *Store, name string, files map[string]string) string {
	t.Helper()
	dir, release, err := s.Volume(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for p, body := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// spreadFiles is a volume of n package dirs with one file each.
func spreadFiles(n int, body string) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("pkg/mod/m%02d/file.txt", i)] = fmt.Sprintf("%s %d %s", body, i, strings.Repeat("x", 20000))
	}
	return m
}

func volumeText(t testing.TB, s *Store, name string) string {
	dir, release, err := s.Volume(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return treeListing(t, dir)
}

// treeListing lists a tree: path, mode, mtime and content of every file.
func treeListing(t testing.TB, dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %s", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			body, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %d %x", fi.ModTime().UnixNano(), body)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func TestVolumeTravelsBetweenStoresByChangedBuckets(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	fillVolume(t, a, "gomod", spreadFiles(16, "v1"))
	first, err := a.PushVolume(ctxT(t), rem, "gomod", VolumeOptions{})
	if err != nil || !first.Changed || first.Bytes == 0 {
		t.Fatalf("push: %+v %v", first, err)
	}
	if again, err := a.PushVolume(ctxT(t), rem, "gomod", VolumeOptions{}); err != nil || again.Changed || again.Bytes != 0 {
		t.Errorf("push of an unchanged volume: %+v %v", again, err)
	}
	rep, err := b.RestoreVolume(ctxT(t), rem, "gomod", DefaultVolumeMax)
	if err != nil || rep.Missing || rep.Buckets == 0 {
		t.Fatalf("restore on B: %+v %v", rep, err)
	}
	if va, vb := volumeText(t, a, "gomod"), volumeText(t, b, "gomod"); va != vb {
		t.Fatalf("B's volume differs from A's:\n%s\nvs\n%s", vb, va)
	}

	// One package changes on A: one bucket travels each way.
	fillVolume(t, a, "gomod", map[string]string{"pkg/mod/m03/file.txt": "changed"})
	second, err := a.PushVolume(ctxT(t), rem, "gomod", VolumeOptions{})
	if err != nil || !second.Changed {
		t.Fatalf("second push: %+v %v", second, err)
	}
	if second.Bytes*4 > first.Bytes {
		t.Errorf("one changed file sent %d bytes; the whole volume was %d", second.Bytes, first.Bytes)
	}
	rep, err = b.RestoreVolume(ctxT(t), rem, "gomod", DefaultVolumeMax)
	if err != nil || rep.Buckets != 1 {
		t.Fatalf("restore after one change fetched %+v (%v), want 1 bucket", rep, err)
	}
	if va, vb := volumeText(t, a, "gomod"), volumeText(t, b, "gomod"); va != vb {
		t.Errorf("B's volume differs from A's after the change")
	}
	if rep, err := b.RestoreVolume(ctxT(t), rem, "gomod", DefaultVolumeMax); err != nil || rep.Buckets != 0 {
		t.Errorf("restore of an up-to-date volume fetched %+v %v", rep, err)
	}
	if rep, err := b.RestoreVolume(ctxT(t), rem, "other", DefaultVolumeMax); err != nil || !rep.Missing {
		t.Errorf("restore of an unknown volume: %+v %v", rep, err)
	}
}

func TestVolumeConcurrentWritersMerge(t *testing.T) {
	reg := newRegistry(t)
	a, b, c := newStore(t), newStore(t), newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	fillVolume(t, a, "npm", spreadFiles(16, "base"))
	if _, err := a.PushVolume(ctxT(t), rem, "npm", VolumeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RestoreVolume(ctxT(t), rem, "npm", DefaultVolumeMax); err != nil {
		t.Fatal(err)
	}
	x, y := "pkg/mod/m01/file.txt", "pkg/mod/m02/file.txt"
	if bucketOf(x) == bucketOf(y) {
		t.Fatalf("test needs %s and %s in different buckets", x, y)
	}
	// Both jobs start from the same volume; A changes x, B changes y.
	fillVolume(t, a, "npm", map[string]string{x: "from A"})
	fillVolume(t, b, "npm", map[string]string{y: "from B"})
	if _, err := a.PushVolume(ctxT(t), rem, "npm", VolumeOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err := b.PushVolume(ctxT(t), rem, "npm", VolumeOptions{})
	if err != nil || rep.Merged != 1 || rep.Lost != 0 {
		t.Fatalf("B's push after A's: %+v %v, want 1 bucket merged", rep, err)
	}
	if _, err := c.RestoreVolume(ctxT(t), rem, "npm", DefaultVolumeMax); err != nil {
		t.Fatal(err)
	}
	dir := fillVolume(t, c, "npm", nil)
	if readFile(t, filepath.Join(dir, x)) != "from A" || readFile(t, filepath.Join(dir, y)) != "from B" {
		t.Errorf("merged volume lacks an update: %q %q", readFile(t, filepath.Join(dir, x)), readFile(t, filepath.Join(dir, y)))
	}
	// B, at its next restore, gets A's bucket it did not hold.
	if rep, err := b.RestoreVolume(ctxT(t), rem, "npm", DefaultVolumeMax); err != nil || rep.Buckets != 1 {
		t.Errorf("B's restore after the merge: %+v %v", rep, err)
	}
	// Both change the same file: the later push wins and says it lost one.
	fillVolume(t, a, "npm", map[string]string{x: "A again"})
	fillVolume(t, b, "npm", map[string]string{x: "B again"})
	if _, err := a.PushVolume(ctxT(t), rem, "npm", VolumeOptions{}); err != nil {
		t.Fatal(err)
	}
	if rep, err := b.PushVolume(ctxT(t), rem, "npm", VolumeOptions{}); err != nil || rep.Lost != 1 {
		t.Errorf("conflicting push: %+v %v, want 1 bucket lost", rep, err)
	}
}

func TestVolumeTamperedBucketRefused(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	fillVolume(t, a, "cache", map[string]string{"a/b/c/f": "good"})
	if _, err := a.PushVolume(ctxT(t), rem, "cache", VolumeOptions{}); err != nil {
		t.Fatal(err)
	}
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			return false
		}
		w.Write(tarOf(t)) // a valid empty tar under the expected digest
		return true
	})
	dir := fillVolume(t, b, "cache", map[string]string{"mine": "local"})
	_, err := b.RestoreVolume(ctxT(t), rem, "cache", DefaultVolumeMax)
	var de *DigestError
	if !errors.As(err, &de) {
		t.Fatalf("restore of a tampered bucket: %v, want a *DigestError", err)
	}
	if got := treeListing(t, dir); !strings.HasPrefix(got, "mine ") || strings.Count(got, "\n") != 1 {
		t.Errorf("the volume changed:\n%s", got)
	}
}

func TestVolumeSizeCapLeavesOldestFilesLocal(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	dir := fillVolume(t, a, "big", map[string]string{"old/f": strings.Repeat("o", 1000), "new/f": strings.Repeat("n", 1000)})
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(dir, "old/f"), old, old)
	rep, err := a.PushVolume(ctxT(t), rem, "big", VolumeOptions{Max: 1500})
	if err != nil || rep.Capped != 1 || rep.CappedSz != 1000 {
		t.Fatalf("push over the cap: %+v %v", rep, err)
	}
	if _, err := b.RestoreVolume(ctxT(t), rem, "big", 1500); err != nil {
		t.Fatal(err)
	}
	got := fillVolume(t, b, "big", nil)
	if _, err := os.Stat(filepath.Join(got, "old/f")); !os.IsNotExist(err) {
		t.Errorf("the oldest file was pushed over the cap")
	}
	if readFile(t, filepath.Join(got, "new/f")) != strings.Repeat("n", 1000) {
		t.Errorf("the newest file was not pushed")
	}
}

func TestVolumeConcurrentWritersOnTheRealRegistry(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	repo := reg.Host + "/team/cache"
	const writers = 4
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := 0; i < writers; i++ {
		s := newStore(t)
		fillVolume(t, s, "shared", spreadFiles(8, fmt.Sprintf("writer%d", i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rem := openTestRemote(t, repo, RemoteOptions{})
			_, errs[i] = s.PushVolume(ctxT(t), rem, "shared", VolumeOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	// Whatever won, the volume is whole: every file is one writer's.
	r := newStore(t)
	if _, err := r.RestoreVolume(ctxT(t), openTestRemote(t, repo, RemoteOptions{}), "shared", DefaultVolumeMax); err != nil {
		t.Fatal(err)
	}
	dir := fillVolume(t, r, "shared", nil)
	for i := 0; i < 8; i++ {
		body := readFile(t, filepath.Join(dir, fmt.Sprintf("pkg/mod/m%02d/file.txt", i)))
		if !strings.HasPrefix(body, "writer") || !strings.HasSuffix(body, strings.Repeat("x", 20000)) {
			t.Errorf("file %d is torn: %.20q", i, body)
		}
	}
}

// pushCraftedVolume pushes a volume manifest whose every bucket is tarball.
func pushCraftedVolume(t *testing.T, s *Store, rem *Remote, name string, tarball []byte) {
	t.Helper()
	entry, err := s.newTempEntry("test")
	if err != nil {
		t.Fatal(err)
	}
	defer removeTree(entry)
	blob, err := compressTarJobs(bytes.NewReader(tarball), entry, "evil", 1)
	if err != nil {
		t.Fatal(err)
	}
	layers := make([]v1.Layer, VolumeBuckets)
	for i := range layers {
		layers[i] = blob
	}
	cfg, _ := json.Marshal(VolumeConfig{Schema: volumeSchema, Name: name})
	_, pusher, err := rem.clients()
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.putArtifact(ctxT(t), pusher, volumeTag(name), VolumeArtifactType, volumeConfigType, cfg, layers, nil); err != nil {
		t.Fatal(err)
	}
}

func TestVolumeRestoreRefusesEntriesOutsideTheVolume(t *testing.T) {
	reg := newRegistry(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	s := newStore(t)
	outside := filepath.Join(t.TempDir(), "escaped")
	for name, hdrs := range map[string][]*tar.Header{
		"dotdot":  {{Name: "../../../../../../.." + outside, Typeflag: tar.TypeReg, Size: 4, Mode: 0o644}},
		"symlink": {{Name: "link", Typeflag: tar.TypeSymlink, Linkname: filepath.Dir(outside), Mode: 0o777}, {Name: "link/escaped", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644}},
	} {
		t.Run(name, func(t *testing.T) {
			pushCraftedVolume(t, s, rem, "evil-"+name, tarOf(t, hdrs...))
			_, err := s.RestoreVolume(ctxT(t), rem, "evil-"+name, DefaultVolumeMax)
			if err == nil {
				t.Errorf("restore of a crafted volume succeeded")
			}
			if _, serr := os.Lstat(outside); serr == nil {
				t.Fatalf("a volume restore wrote %s", outside)
			}
		})
	}
}

func TestVolumePushReplacedByARacingPushSaysSo(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	remA := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	remB := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	fillVolume(t, a, "race", spreadFiles(16, "base"))
	if _, err := a.PushVolume(ctxT(t), remA, "race", VolumeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RestoreVolume(ctxT(t), remB, "race", DefaultVolumeMax); err != nil {
		t.Fatal(err)
	}
	x := "pkg/mod/m01/file.txt"
	fillVolume(t, a, "race", map[string]string{x: "from A"})
	fillVolume(t, b, "race", map[string]string{x: "from B"})
	// A's push lands right after B's manifest PUT, before B reads the tag back.
	var armed atomic.Bool
	armed.Store(true)
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") || !armed.Swap(false) {
			return false
		}
		reg.inner.ServeHTTP(w, r)
		if _, err := a.PushVolume(ctxT(t), remA, "race", VolumeOptions{}); err != nil {
			t.Errorf("racing push: %v", err)
		}
		return true
	})
	rep, err := b.PushVolume(ctxT(t), remB, "race", VolumeOptions{})
	if err != nil || rep.Replaced != 1 {
		t.Fatalf("B's push, replaced by a racing one: %+v %v, want 1 bucket replaced", rep, err)
	}
	reg.setIntercept(nil)
	// B's next push sends its bucket again.
	if rep, err := b.PushVolume(ctxT(t), remB, "race", VolumeOptions{}); err != nil || !rep.Changed {
		t.Fatalf("B's next push: %+v %v, want its bucket pushed again", rep, err)
	}
	c := newStore(t)
	if _, err := c.RestoreVolume(ctxT(t), remB, "race", DefaultVolumeMax); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(fillVolume(t, c, "race", nil), x)); got != "from B" {
		t.Errorf("after B pushed again, the registry has %q", got)
	}
}

func TestVolumeTagFitsOCI(t *testing.T) {
	long := strings.Repeat("v", 128)
	if tag := volumeTag(long); len(tag) > 128 || tag == volumeTag(long[:127]+"w") {
		t.Errorf("tag %q (%d chars)", tag, len(tag))
	}
	if tag := volumeTag("gomod"); !strings.HasSuffix(tag, "-gomod") {
		t.Errorf("tag %q", tag)
	}
}
