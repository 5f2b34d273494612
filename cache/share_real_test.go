package cache

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/pipe-run/pipe/internal/testregistry"
)

// userKeychain gives one user's credentials for every registry.
type userKeychain struct{ user, password string }

func (k userKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.password}), nil
}

// startSecureRegistry runs docker-registry with TLS and htpasswd users
// writer and reader (read only, through the proxy).
func startSecureRegistry(t *testing.T) *testregistry.Registry {
	return testregistry.Start(t, testregistry.Options{TLS: true, Proxy: true,
		Users: map[string]string{"writer": "w-pass", "reader": "r-pass"}, ReadOnly: []string{"reader"}})
}

func secureRemote(t *testing.T, reg *testregistry.Registry, kc authn.Keychain) *Remote {
	return openTestRemote(t, reg.Host+"/team/pipe-cache", RemoteOptions{Transport: reg.Transport(), Keychain: kc})
}

func TestSharedResultsOnTheRealRegistry(t *testing.T) {
	reg := startSecureRegistry(t)
	a, b := newStore(t), newStore(t)
	key := testKey("real")
	commitTestResult(t, a, key, map[string]string{"bin/app": strings.Repeat("app", 5000)})

	// The writer's credentials come from a Docker config, as in a CI job.
	t.Setenv("DOCKER_CONFIG", reg.DockerConfig("writer", "w-pass"))
	writer := secureRemote(t, reg, nil)
	if pushed, err := a.PushResult(ctxT(t), writer, key); err != nil || !pushed {
		t.Fatalf("push with the writer's credentials: %v %v", pushed, err)
	}

	reader := secureRemote(t, reg, userKeychain{"reader", "r-pass"})
	sh := &Shared{Store: b, From: []*Remote{reader}, To: reader}
	res, from, errs := sh.FetchResult(ctxT(t), key)
	if res == nil || len(errs) > 0 || from != reader.String() {
		t.Fatalf("fetch with the reader's credentials: %v from %q: %v", res, from, errs)
	}
	if got := readFile(t, res.Dir+"/bin/app"); got != strings.Repeat("app", 5000) {
		t.Errorf("fetched %d bytes", len(got))
	}

	// A push with read-only credentials is refused: pushes stop, reads go on.
	other := testKey("other")
	commitTestResult(t, b, other, map[string]string{"x": "y"})
	if _, err := sh.PushResult(ctxT(t), other); err == nil || !strings.Contains(err.Error(), "DENIED") {
		t.Fatalf("push as reader: %v, want DENIED", err)
	}
	if _, err := sh.PushResult(ctxT(t), other); !errors.Is(err, ErrRemoteOff) {
		t.Errorf("second push as reader: %v, want ErrRemoteOff", err)
	}
	if _, _, errs := sh.FetchResult(ctxT(t), testKey("absent")); len(errs) > 0 {
		t.Errorf("reads stopped after a refused push: %v", errs)
	}

	// Without credentials, the registry refuses even reads.
	anon := secureRemote(t, reg, authn.NewMultiKeychain())
	if _, err := b.FetchResult(ctxT(t), anon, testKey("anon")); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("anonymous lookup: %v, want a failure", err)
	}
}

func TestSharedCacheNeverInTheWay(t *testing.T) {
	reg := startSecureRegistry(t)
	s := newStore(t)
	kc := userKeychain{"writer", "w-pass"}
	key := testKey("faults")
	commitTestResult(t, s, key, map[string]string{"f": strings.Repeat("data", 10000)})
	stall := make(chan struct{})
	defer close(stall)
	for _, tc := range []struct {
		name  string
		fault func(w http.ResponseWriter, r *http.Request) bool
		push  bool // the fault is met by a push
	}{
		{"500", statusFault(http.StatusInternalServerError, ""), false},
		{"429", statusFault(http.StatusTooManyRequests, ""), false},
		{"stall", func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/v2/" {
				return false
			}
			<-stall
			return true
		}, false},
		{"manifest too large", func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":"http: request body too large"}]}`))
			return true
		}, true},
		{"full", statusFault(http.StatusInsufficientStorage, "PUT"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.SetFault(tc.fault)
			defer reg.SetFault(nil)
			rem := secureRemote(t, reg, kc)
			start := time.Now()
			var first error
			if tc.push {
				_, first = s.PushResult(ctxT(t), rem, key)
			} else {
				_, first = s.FetchResult(ctxT(t), rem, testKey("missing-"+tc.name))
			}
			if first == nil || errors.Is(first, ErrNotFound) || errors.Is(first, ErrRemoteOff) {
				t.Fatalf("first call: %v, want the registry's failure", first)
			}
			// Every later call of that direction is refused at once.
			for i := 0; i < 5; i++ {
				var err error
				if tc.push {
					_, err = s.PushResult(ctxT(t), rem, key)
				} else {
					_, err = s.FetchResult(ctxT(t), rem, testKey("later"))
				}
				if !errors.Is(err, ErrRemoteOff) {
					t.Fatalf("call %d after the failure: %v, want ErrRemoteOff", i+2, err)
				}
			}
			if took := time.Since(start); took > 20*time.Second { // generous: the timeout is 2 s
				t.Errorf("the failing registry cost %s", took)
			}
		})
	}
}

// statusFault answers every request of method ("" any) but the ping with
// code, as an overloaded or full registry does.
func statusFault(code int, method string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" || (method != "" && r.Method != method && r.Method != http.MethodPatch && r.Method != http.MethodPost) {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(code)
		return true
	}
}

func TestSharedCacheSurvivesARegistryKilledMidRun(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{Proxy: true})
	s := newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/pipe-cache", RemoteOptions{})
	k1, k2 := testKey("k1"), testKey("k2")
	commitTestResult(t, s, k1, map[string]string{"a": "1"})
	commitTestResult(t, s, k2, map[string]string{"b": "2"})
	if _, err := s.PushResult(ctxT(t), rem, k1); err != nil {
		t.Fatal(err)
	}
	reg.Kill()
	if _, err := s.PushResult(ctxT(t), rem, k2); err == nil {
		t.Fatal("push to a killed registry succeeded")
	}
	if _, err := s.FetchResult(ctxT(t), rem, k1); !errors.Is(err, ErrRemoteOff) {
		t.Errorf("lookup after the registry died: %v, want ErrRemoteOff", err)
	}
}

func TestSharedResultTamperedAtRestInTheRealRegistry(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	a, b := newStore(t), newStore(t)
	key := testKey("at-rest")
	commitTestResult(t, a, key, map[string]string{"bin/tool": strings.Repeat("genuine ", 4000)})
	rem := openTestRemote(t, reg.Host+"/team/pipe-cache", RemoteOptions{})
	if _, err := a.PushResult(ctxT(t), rem, key); err != nil {
		t.Fatal(err)
	}
	// Flip bytes of every zstd blob in the registry's storage, keeping sizes.
	tampered := 0
	filepath.Walk(reg.Data, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Name() != "data" || fi.Size() < 100 {
			return err
		}
		body, _ := os.ReadFile(p)
		if !bytes.HasPrefix(body, zstdMagic) {
			return nil
		}
		body[len(body)/2] ^= 0xff
		tampered++
		return os.WriteFile(p, body, 0o644)
	})
	if tampered == 0 {
		t.Fatal("no layer blob found in the registry's storage")
	}
	_, err := b.FetchResult(ctxT(t), openTestRemote(t, reg.Host+"/team/pipe-cache", RemoteOptions{}), key)
	var de *DigestError
	if !errors.As(err, &de) {
		t.Fatalf("fetch of a blob tampered at rest: %v, want a *DigestError", err)
	}
	if _, err := b.Result(key); !errors.Is(err, ErrNotFound) {
		t.Errorf("the tampered result was stored")
	}
}

func TestSharedCacheWithTokenAuth(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{TLS: true, Token: true,
		Users: map[string]string{"writer": "w-pass", "reader": "r-pass"}, ReadOnly: []string{"reader"}})
	a, b := newStore(t), newStore(t)
	key := testKey("token")
	commitTestResult(t, a, key, map[string]string{"out/x": "through a bearer token"})
	fillVolume(t, a, "vol", map[string]string{"a/b/c/f": "volume through a token"})
	writer := secureRemote(t, reg, userKeychain{"writer", "w-pass"})
	if _, err := a.PushResult(ctxT(t), writer, key); err != nil {
		t.Fatalf("push with a read-write token: %v", err)
	}
	if _, err := a.PushVolume(ctxT(t), writer, "vol", VolumeOptions{}); err != nil {
		t.Fatalf("volume push with a read-write token: %v", err)
	}
	reader := secureRemote(t, reg, userKeychain{"reader", "r-pass"})
	res, err := b.FetchResult(ctxT(t), reader, key)
	if err != nil || readFile(t, filepath.Join(res.Dir, "out/x")) != "through a bearer token" {
		t.Fatalf("fetch with a read-only token: %v", err)
	}
	if _, err := b.RestoreVolume(ctxT(t), reader, "vol", DefaultVolumeMax); err != nil {
		t.Fatalf("restore with a read-only token: %v", err)
	}
	other := testKey("token-other")
	commitTestResult(t, b, other, map[string]string{"y": "z"})
	if _, err := b.PushResult(ctxT(t), reader, other); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("push with a read-only token: %v, want the registry's UNAUTHORIZED", err)
	}
	if _, err := b.PushResult(ctxT(t), reader, other); !errors.Is(err, ErrRemoteOff) {
		t.Errorf("push after a refused one: %v, want ErrRemoteOff", err)
	}
	if _, err := b.FetchResult(ctxT(t), reader, testKey("absent")); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup after a refused push: %v, want a miss", err)
	}
}
