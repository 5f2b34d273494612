package cache

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testKey makes a 64-hex step key from a label.
func testKey(label string) string { return sha256Hash([]byte(label)).Hex }

// commitTestResult stores a result with the given files (path: body).
func commitTestResult(t testing.TB, s *Store, key string, files map[string]string) *Result {
	t.Helper()
	dir, err := s.NewStaging("test")
	if err != nil {
		t.Fatal(err)
	}
	for p, body := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.CommitResult(key, dir, ResultMeta{Step: "build", RunID: "run-a"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func openTestRemote(t testing.TB, repo string, o RemoteOptions) *Remote {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	rem, err := OpenRemote(repo, o)
	if err != nil {
		t.Fatal(err)
	}
	return rem
}

func TestPushThenFetchResultOnAnotherStore(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	key := testKey("build")
	commitTestResult(t, a, key, map[string]string{"out/bin": "binary", "out/sub/x.txt": "x"})
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	pushed, err := a.PushResult(ctxT(t), rem, key)
	if err != nil || !pushed {
		t.Fatalf("push: %v %v", pushed, err)
	}
	if pushed, err := a.PushResult(ctxT(t), rem, key); err != nil || pushed {
		t.Fatalf("second push: pushed %v, %v; want write-once skip", pushed, err)
	}
	reader := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	res, err := b.FetchResult(ctxT(t), reader, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(res.Dir, "out/bin")); got != "binary" {
		t.Errorf("out/bin = %q", got)
	}
	if res.Meta.Step != "build" || res.Meta.RunID != "run-a" || res.Meta.Files == 0 {
		t.Errorf("meta %+v", res.Meta)
	}
	if local, err := b.Result(key); err != nil || local.Dir != res.Dir {
		t.Errorf("fetched result not stored: %v", err)
	}
	if len(tmpEntries(t, b)) != 0 || len(tmpEntries(t, a)) != 0 {
		t.Errorf("tmp entries left: %v %v", tmpEntries(t, a), tmpEntries(t, b))
	}
}

func TestFetchResultMissCostsOneRequestOnAWarmRemote(t *testing.T) {
	reg := newRegistry(t)
	s := newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	if _, err := s.FetchResult(ctxT(t), rem, testKey("warm")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("first miss: %v", err)
	}
	reg.reset()
	for i := 0; i < 3; i++ {
		_, err := s.FetchResult(ctxT(t), rem, testKey("miss"+string(rune('a'+i))))
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("miss: %v", err)
		}
	}
	if n, _ := reg.counts(); n != 3 {
		t.Errorf("3 misses made %d requests, want 3", n)
	}
	if err := rem.readable(); err != nil {
		t.Errorf("a miss turned the remote off: %v", err)
	}
}

func TestFetchResultEmptyOutput(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	key := testKey("empty")
	commitTestResult(t, a, key, nil)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	if _, err := a.PushResult(ctxT(t), rem, key); err != nil {
		t.Fatal(err)
	}
	res, err := b.FetchResult(ctxT(t), rem, key)
	if err != nil || res.Meta.Files != 0 {
		t.Fatalf("fetch: %v %+v", err, res)
	}
}

func TestFetchResultRefusesATamperedBlob(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	key := testKey("tamper")
	commitTestResult(t, a, key, map[string]string{"f": strings.Repeat("real ", 1000)})
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	if _, err := a.PushResult(ctxT(t), rem, key); err != nil {
		t.Fatal(err)
	}
	evil := commitTestResult(t, newStore(t), testKey("evil"), map[string]string{"f": strings.Repeat("evil ", 1000)})
	evilTar := readAll(t, a.LayerTar(evil.Dir))
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			return false
		}
		w.WriteHeader(http.StatusOK)
		w.Write(evilTar) // another, valid layer under the expected digest
		return true
	})
	_, err := b.FetchResult(ctxT(t), rem, key)
	var de *DigestError
	if !errors.As(err, &de) {
		t.Fatalf("fetch of a tampered blob: %v, want a *DigestError", err)
	}
	if _, err := b.Result(key); !errors.Is(err, ErrNotFound) {
		t.Errorf("a tampered result was stored: %v", err)
	}
	if err := rem.readable(); err != nil {
		t.Errorf("a bad entry turned the remote off: %v", err)
	}
	if len(tmpEntries(t, b)) != 0 {
		t.Errorf("tmp entries left: %v", tmpEntries(t, b))
	}
}

func readAll(t testing.TB, rc interface {
	Read([]byte) (int, error)
	Close() error
}) []byte {
	t.Helper()
	defer rc.Close()
	var buf strings.Builder
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatal(err)
	}
	return []byte(buf.String())
}

func TestSharedReadsInOrderAndKeepsTrustScopesApart(t *testing.T) {
	reg := newRegistry(t)
	trusted := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	untrusted := openTestRemote(t, reg.Host+"/team/cache-untrusted", RemoteOptions{})
	key := testKey("scoped")
	// A pull request's run writes the untrusted repository only.
	pr := newStore(t)
	commitTestResult(t, pr, key, map[string]string{"out": "from a pull request"})
	if _, err := (&Shared{Store: pr, From: []*Remote{trusted, untrusted}, To: untrusted}).PushResult(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	// A trusted run, reading the trusted repository only, never sees it.
	if res, _, errs := (&Shared{Store: newStore(t), From: []*Remote{trusted}}).FetchResult(ctxT(t), key); res != nil || len(errs) > 0 {
		t.Fatalf("a trusted reader saw an untrusted write: %v %v", res, errs)
	}
	// Once the trusted repository has it too, it wins for readers of both.
	main := newStore(t)
	commitTestResult(t, main, key, map[string]string{"out": "from main"})
	if _, err := main.PushResult(ctxT(t), trusted, key); err != nil {
		t.Fatal(err)
	}
	reader := newStore(t)
	res, from, errs := (&Shared{Store: reader, From: []*Remote{trusted, untrusted}}).FetchResult(ctxT(t), key)
	if res == nil || len(errs) > 0 || from != trusted.String() || readFile(t, filepath.Join(res.Dir, "out")) != "from main" {
		t.Fatalf("read from %q (%v): want the first repository's result", from, errs)
	}
	other := newStore(t)
	res, from, _ = (&Shared{Store: other, From: []*Remote{untrusted, trusted}}).FetchResult(ctxT(t), key)
	if res == nil || from != untrusted.String() || readFile(t, filepath.Join(res.Dir, "out")) != "from a pull request" {
		t.Errorf("in the other order, read from %q", from)
	}
}
