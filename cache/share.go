package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// A shared cache is a repository of an OCI registry holding step results
// (one tag per step key) and cache volumes (one tag per volume name). The
// registry is never on a run's critical path: every call is bounded by a
// short deadline, and once a registry has failed for a reason that will not
// pass within the run (refused, silent, 5xx, 429, 401/403), the Remote turns
// the affected direction off and answers at once with ErrRemoteOff.

// ErrRemoteOff says a Remote stopped talking to its registry after an
// earlier failure (see Remote): the call was not attempted.
var ErrRemoteOff = errors.New("remote cache turned off for this run after an earlier error")

// RemoteOptions tune OpenRemote; the zero value is what pipe run uses.
type RemoteOptions struct {
	// Transport carries the requests; nil: an http.Transport with short
	// connect, TLS and response-header timeouts that honours the proxy
	// environment and the system's CA certificates (SSL_CERT_FILE).
	Transport http.RoundTripper
	// Keychain finds credentials; nil: authn.DefaultKeychain (the Docker
	// config, $REGISTRY_AUTH_FILE, podman's auth.json and credential helpers).
	Keychain authn.Keychain
	// Timeout bounds each lookup; pushes get ten times as long. 0: 3 s.
	Timeout time.Duration
}

// Remote is one repository of a registry used as a shared cache. It keeps one
// authenticated connection (a reused Puller and Pusher), so a lookup after
// the first costs one request. Its methods are safe for concurrent use.
type Remote struct {
	repo    name.Repository
	timeout time.Duration
	opts    []remote.Option

	initOnce sync.Once
	puller   *remote.Puller
	pusher   *remote.Pusher
	initErr  error

	mu        sync.Mutex
	readOff   error // why reads stopped; nil while they work
	writeOff  error // why writes stopped
	transport http.RoundTripper
}

// OpenRemote returns the Remote for repo ("registry.example/org/pipe-cache").
// Registries on loopback are spoken to over HTTPS when they answer it, else
// plain HTTP, as for image pulls. It makes no request.
func OpenRemote(repo string, o RemoteOptions) (*Remote, error) {
	var opts []name.Option
	if r, err := name.NewRepository(repo); err == nil && IsLoopback(r.RegistryStr()) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(repo, opts...)
	if err != nil {
		return nil, fmt.Errorf("cache repository %q: %w (want e.g. registry.example:5000/org/pipe-cache, without a tag)", repo, err)
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Transport == nil {
		o.Transport = remoteTransport(o.Timeout)
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	rem := &Remote{repo: r, timeout: o.Timeout, transport: o.Transport}
	rem.opts = []remote.Option{
		remote.WithTransport(o.Transport),
		remote.WithAuthFromKeychain(o.Keychain),
		remote.WithUserAgent("pipe"),
		remote.WithJobs(4),
		// One retry, soon: a registry that fails twice is off for the run.
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 2}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
	return rem, nil
}

// remoteTransport is http.DefaultTransport with timeouts short enough that
// a registry that does not answer costs seconds, not minutes.
func remoteTransport(timeout time.Duration) http.RoundTripper {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: 2 * timeout,
		ExpectContinueTimeout: time.Second,
	}
}

// String is the repository, as given to OpenRemote (normalised).
func (r *Remote) String() string { return r.repo.String() }

// Repository is the repository the Remote reads and writes.
func (r *Remote) Repository() name.Repository { return r.repo }

// clients returns the shared Puller and Pusher, made on first use.
func (r *Remote) clients() (*remote.Puller, *remote.Pusher, error) {
	r.initOnce.Do(func() {
		r.puller, r.initErr = remote.NewPuller(r.opts...)
		if r.initErr == nil {
			r.pusher, r.initErr = remote.NewPusher(append(r.opts, remote.Reuse(r.puller))...)
		}
	})
	return r.puller, r.pusher, r.initErr
}

// readable returns ErrRemoteOff (wrapped with the first cause) once reads
// are off.
func (r *Remote) readable() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readOff != nil {
		return fmt.Errorf("%w (%v)", ErrRemoteOff, r.readOff)
	}
	return nil
}

// writable is readable for pushes.
func (r *Remote) writable() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.writeOff != nil {
		return fmt.Errorf("%w (%v)", ErrRemoteOff, r.writeOff)
	}
	return nil
}

// fail records a failed call and decides what it turns off: a refusal of
// credentials on a push stops pushes only; a 404 turns off nothing; any other
// failure (network, deadline, 5xx, 429, a read refused) stops both ways.
func (r *Remote) fail(err error, push bool) {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, context.Canceled) {
		return
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound:
			return
		case push && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden ||
			te.StatusCode == http.StatusRequestEntityTooLarge || te.StatusCode == http.StatusBadRequest):
			r.mu.Lock()
			if r.writeOff == nil {
				r.writeOff = err
			}
			r.mu.Unlock()
			return
		}
	}
	var de *DigestError
	if errors.As(err, &de) {
		return // the entry is bad, not the registry
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readOff == nil {
		r.readOff = err
	}
	if r.writeOff == nil {
		r.writeOff = err
	}
}

// IsNotFound reports whether err is a registry's 404 for a manifest or blob.
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// RemoteError is a failed exchange with a shared cache's registry.
type RemoteError struct {
	Repo string // the repository
	Op   string // "look up step result <key>", "push volume go-mod", ...
	Err  error
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("remote cache %s: %s: %v", e.Repo, e.Op, e.Err)
}

func (e *RemoteError) Unwrap() error { return e.Err }

func (r *Remote) errorf(err error, op string, a ...any) error {
	return &RemoteError{Repo: r.repo.String(), Op: fmt.Sprintf(op, a...), Err: err}
}
