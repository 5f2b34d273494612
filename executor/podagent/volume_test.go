package podagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// volumeAgent is testAgent with n empty cache volume dirs (the pod's
// emptyDirs).
func volumeAgent(t *testing.T, n int) *Agent {
	a := testAgent(t)
	for i := 0; i < n; i++ {
		if err := os.MkdirAll(a.Paths.Volume(i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// Init applies each cache volume's layer onto its dir; Push pushes what
// the step changed in each (nil for one it left alone), beside the
// workspace's diff.
func TestInitThenPushVolumes(t *testing.T) {
	r := startRepo(t)
	_, layers := baseLayers(t, r)
	vtar := layerTar(t, dir("mod/"), file("mod/a.zip", "a"), file("mod/b.zip", "b"), file("list", "a b"))
	sp := r.spec(layers...)
	sp.Volumes = []Layer{r.push(t, vtar, true), r.push(t, layerTar(t, file("keep", "k")), false)}
	a := volumeAgent(t, 2)
	if err := a.Init(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(describeTree(t, applyAll(t, vtar)), describeTree(t, a.Paths.Volume(0))); diff != "" {
		t.Fatalf("volume 0 after init -want +got:\n%s", diff)
	}
	v := a.Paths.Volume(0)
	os.Remove(filepath.Join(v, "mod/a.zip"))
	os.WriteFile(filepath.Join(v, "mod/c.zip"), []byte("c"), 0o644)
	os.WriteFile(filepath.Join(v, "list"), []byte("b c"), 0o644)
	writeJSONAtomic(a.Paths.Done(), Done{Exit: 1})

	p := pushAndStop(t, a, sp)
	if p.Error != "" || !p.Unchanged || len(p.Volumes) != 2 || p.Volumes[0] == nil || p.Volumes[1] != nil {
		t.Fatalf("pushed.json: %+v", p)
	}
	got := applyAll(t, vtar, r.fetchTar(t, *p.Volumes[0]))
	if diff := cmp.Diff(describeTree(t, v), describeTree(t, got)); diff != "" {
		t.Errorf("volume layer + pushed diff -after the step +got:\n%s", diff)
	}
}

// A cache volume's layer is applied by the workspace's safe extractor: a
// name that climbs out or a symlink leading out is refused, nothing is
// written outside the volume's dir, and the dir is emptied again.
func TestInitRefusesEscapingVolume(t *testing.T) {
	r := startRepo(t)
	for name, tar := range map[string][]byte{
		"dot-dot":      layerTar(t, file("../outside", "x")),
		"symlink out":  layerTar(t, symlink("esc", "../../.."), file("esc/outside", "x")),
		"absolute out": layerTar(t, symlink("abs", "/"), file("abs/outside", "x")),
	} {
		t.Run(name, func(t *testing.T) {
			a := volumeAgent(t, 1)
			sp := r.spec()
			sp.Volumes = []Layer{r.push(t, tar, false)}
			err := a.Init(context.Background(), sp)
			if err == nil || !strings.Contains(err.Error(), "cache volume 0") {
				t.Fatalf("init: %v", err)
			}
			if ents, _ := os.ReadDir(a.Paths.Volume(0)); len(ents) != 0 {
				t.Errorf("the volume dir holds %d entries after the refusal", len(ents))
			}
			root := filepath.Dir(a.Paths.Volumes)
			for _, p := range []string{filepath.Join(a.Paths.Volumes, "outside"), filepath.Join(root, "outside"), "/outside"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
			if _, err := os.Stat(a.Paths.VolumeIndex(0)); err == nil {
				t.Error("an index was written for a refused volume")
			}
		})
	}
}
