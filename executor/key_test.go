package executor

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/workspace"
)

// The -update flag rewrites golden files. Another test file of this package
// may declare it too: register it only once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata")
	}
}

// goldenUpdate reports whether -update was given.
func goldenUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if goldenUpdate() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// keyCases are the KeyInputs of the golden file: a full one, and one
// variation per field.
func keyCases() []struct {
	name string
	in   KeyInput
} {
	base := KeyInput{
		ImageDigest: "sha256:" + strings.Repeat("ab", 32),
		Run:         []string{"go build ./...", "go test ./..."},
		Shell:       "/bin/sh",
		Env:         []string{"GOFLAGS=-mod=mod", "TOKEN", "CGO_ENABLED=0"},
		Secrets:     []string{"TOKEN"},
		Inputs:      "sha256:" + strings.Repeat("cd", 32),
		Deps:        []string{strings.Repeat("1", 64), strings.Repeat("2", 64)},
		Workdir:     "/workspace",
		User:        "1000:1000",
		Network:     "none",
		Outputs:     []string{"bin/", "coverage.out"},
		Caches:      []string{"gomod", "gobuild"},
		Services:    []string{KeyList("db", "sha256:"+strings.Repeat("ee", 32)), KeyList("cache", "sha256:"+strings.Repeat("ff", 32))},
	}
	mod := func(f func(*KeyInput)) KeyInput {
		in := base
		f(&in)
		return in
	}
	return []struct {
		name string
		in   KeyInput
	}{
		{"empty", KeyInput{}},
		{"base", base},
		{"image", mod(func(k *KeyInput) { k.ImageDigest = "sha256:" + strings.Repeat("ef", 32) })},
		{"run", mod(func(k *KeyInput) { k.Run = []string{"go build ./..."} })},
		{"run-order", mod(func(k *KeyInput) { k.Run = []string{"go test ./...", "go build ./..."} })},
		{"shell", mod(func(k *KeyInput) { k.Shell = "/bin/bash" })},
		{"env", mod(func(k *KeyInput) { k.Env = []string{"GOFLAGS=", "TOKEN", "CGO_ENABLED=0"} })},
		{"secrets", mod(func(k *KeyInput) { k.Secrets = []string{"TOKEN", "OTHER"} })},
		{"inputs", mod(func(k *KeyInput) { k.Inputs = "sha256:" + strings.Repeat("00", 32) })},
		{"deps", mod(func(k *KeyInput) { k.Deps = k.Deps[:1] })},
		{"workdir", mod(func(k *KeyInput) { k.Workdir = "/workspace/sub" })},
		{"user", mod(func(k *KeyInput) { k.User = "0:0" })},
		{"network", mod(func(k *KeyInput) { k.Network = "host" })},
		{"outputs", mod(func(k *KeyInput) { k.Outputs = []string{"bin/"} })},
		{"caches", mod(func(k *KeyInput) { k.Caches = []string{"gomod"} })},
		{"services", mod(func(k *KeyInput) { k.Services = k.Services[:1] })},
	}
}

// TestStepKeyGolden fails when a key changes: every cached result in every
// user's store is keyed by these; change them only with a new KeySchema.
func TestStepKeyGolden(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# step keys (%s); rewritten by go test -update: change only on purpose\n", KeySchema)
	seen := map[string]string{}
	for _, c := range keyCases() {
		k := StepKey(c.in)
		if other, dup := seen[k]; dup {
			t.Errorf("%s and %s have the same key", c.name, other)
		}
		seen[k] = c.name
		fmt.Fprintf(&b, "%s %s\n", c.name, k)
	}
	fmt.Fprintf(&b, "inputs-digest %s\n", goldenInputsDigest(t))
	checkGolden(t, "keys.golden", b.Bytes())
}

// goldenInputsDigest is the Workspace.Digest (pipe.inputs/v1) of a fixed
// tree: a file, an executable, a symlink, a nested file.
func goldenInputsDigest(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	for name, content := range map[string]string{"a.txt": "a\n", "bin/run": "#!/bin/sh\n", "src/deep/x.go": "package x\n"} {
		p := filepath.Join(repo, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(repo, "bin/run"), 0o755)
	os.Symlink("a.txt", filepath.Join(repo, "link"))
	w, err := workspace.Scan(context.Background(), repo, "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.Digest(nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestStepKeyCanonical(t *testing.T) {
	base := keyCases()[1].in
	same := base
	same.Env = []string{"CGO_ENABLED=0", "TOKEN", "GOFLAGS=-mod=mod"}
	same.Deps = []string{base.Deps[1], base.Deps[0]}
	same.Outputs = []string{"coverage.out", "bin/", "bin/"}
	same.Caches = []string{"gobuild", "gomod"}
	same.Services = []string{base.Services[1], base.Services[0]}
	if StepKey(same) != StepKey(base) {
		t.Error("order of env, deps, outputs, caches or services changed the key")
	}
	// A service's fields keep their boundaries too.
	s1, s2 := base, base
	s1.Services, s2.Services = []string{KeyList("db", "x y")}, []string{KeyList("db x", "y")}
	if StepKey(s1) == StepKey(s2) {
		t.Error("services [db, x y] and [db x, y] have the same key")
	}
	withValue := base
	withValue.Env = []string{"GOFLAGS=-mod=mod", "TOKEN=s3cr3t-value", "CGO_ENABLED=0"}
	if StepKey(withValue) != StepKey(base) {
		t.Error("a secret's value changed the key")
	}
	dup := base
	dup.Env = append([]string{"GOFLAGS=old"}, base.Env...)
	if StepKey(dup) != StepKey(base) {
		t.Error("an env entry overridden later changed the key")
	}
	// Length prefixes keep field boundaries: moving text between two
	// commands must change the key.
	a, b := base, base
	a.Run, b.Run = []string{"ab", "c"}, []string{"a", "bc"}
	if StepKey(a) == StepKey(b) {
		t.Error("run [ab c] and [a bc] have the same key")
	}
	none := base
	none.Outputs, none.NoOutputs = nil, true
	all := base
	all.Outputs = nil
	if StepKey(none) == StepKey(all) {
		t.Error("outputs: [] (nothing) and no outputs (everything) have the same key")
	}
	fromNone, fromOne := base, base
	fromNone.OutputsFromSet = true
	fromOne.OutputsFrom, fromOne.OutputsFromSet = []string{"build"}, true
	if StepKey(fromNone) == StepKey(base) || StepKey(fromOne) == StepKey(base) || StepKey(fromNone) == StepKey(fromOne) {
		t.Error("outputs_from does not change the key")
	}
}

func TestServiceKeys(t *testing.T) {
	img := &cache.Image{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}
	r := &run{images: map[string]*cache.Image{testImage: img}}
	keys := func(svc string) []string {
		p := parse(t, "services:\n  db:\n"+svc+"steps:\n  s: {services: [db], run: [true]}\n")
		return r.serviceKeys(p.Steps[0])
	}
	base := "    image: " + testImage + "\n    command: run-db\n    env: {A: '1', B: '2'}\n"
	k := keys(base)
	if len(k) != 1 || !strings.HasPrefix(k[0], KeyList("db")) {
		t.Fatalf("service keys %q", k)
	}
	if got := keys("    image: " + testImage + "\n    command: run-db\n    env: {B: '2', A: '1'}\n"); got[0] != k[0] {
		t.Error("the order of a service's env changed its key")
	}
	for _, other := range []string{
		"    image: " + testImage + "\n    command: run-db --fast\n    env: {A: '1', B: '2'}\n",
		"    image: " + testImage + "\n    command: run-db\n    env: {A: '1', B: '3'}\n",
		base + "    ready: {run: 'true'}\n",
		base + "    aliases: [database]\n",
		"    image: " + testImage + "\n    args: [run-db]\n    env: {A: '1', B: '2'}\n",
	} {
		if got := keys(other); got[0] == k[0] {
			t.Errorf("service %q has the key of %q", other, base)
		}
	}
}
