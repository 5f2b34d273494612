package rest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config is how to reach and authenticate to one API server.
type Config struct {
	// Host is the server's base URL (https://host:port, maybe with a path).
	Host string
	// TLS is the client's TLS configuration (CA, client certificate,
	// server name); nil is Go's default.
	TLS *tls.Config
	// Proxy, if set, picks the proxy of a request (http.ProxyURL); nil is
	// the environment's (HTTPS_PROXY, NO_PROXY), as client-go.
	Proxy func(*http.Request) (*url.URL, error)
	// Authorize, if set, adds the credentials to a request (a bearer token,
	// basic auth). It is called for every request, from any goroutine.
	Authorize func(*http.Request) error
	// Unauthorized, if set, hears of a 401 answer (an exec plugin's cached
	// token is then dropped).
	Unauthorized func()
	// UserAgent is sent with every request.
	UserAgent string
	// QPS and Burst limit the request rate (a token bucket); QPS 0 is none.
	QPS   float64
	Burst int
	// Warning, if set, hears of each warning the server sends (the
	// Warning header's text).
	Warning func(text string)
}

// Client makes requests of one API server. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	http    *http.Client
	limiter *tokenBucket
}

// New makes a Client for cfg.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", cfg.Host, err)
	}
	if base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("server %q is not an http(s) URL with a host", cfg.Host)
	}
	proxy := cfg.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	tr := &http.Transport{
		Proxy:               proxy,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 25,
		ForceAttemptHTTP2:   true,
	}
	c := &Client{cfg: cfg, base: base, http: &http.Client{Transport: tr}}
	if cfg.QPS > 0 {
		c.limiter = newTokenBucket(cfg.QPS, max(cfg.Burst, 1))
	}
	return c, nil
}

// Request is one request: Verb and Path (under the Host's path, e.g.
// /api/v1/namespaces/ci/pods), Query, and an optional Body encoded as
// JSON with ContentType (default application/json).
type Request struct {
	Verb        string
	Path        string
	Query       url.Values
	Body        any
	ContentType string
	// Timeout, if not 0, bounds the request and is sent as the timeout
	// parameter, as client-go's Request.Timeout.
	Timeout time.Duration
}

// Do makes r and decodes a 2xx answer's JSON into out (unless out is nil).
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", r.Verb, r.Path, err)
	}
	return nil
}

// Stream makes r and returns the body of a 2xx answer; the caller closes
// it. ctx bounds the whole stream.
func (c *Client) Stream(ctx context.Context, r Request) (io.ReadCloser, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// send makes r and returns a 2xx answer, or the error of any other.
func (c *Client) send(ctx context.Context, r Request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	if c.limiter != nil {
		if err := c.limiter.wait(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: client rate limiter: %w", r.Verb, req.URL.Path, err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	c.warnings(resp.Header)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && c.cfg.Unauthorized != nil {
		c.cfg.Unauthorized()
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, responseError(r.Verb, r.Path, resp, body)
}

// newRequest builds the http.Request of r.
func (c *Client) newRequest(ctx context.Context, r Request) (*http.Request, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + r.Path
	q := url.Values{}
	for k, v := range r.Query {
		q[k] = v
	}
	if r.Timeout > 0 {
		q.Set("timeout", r.Timeout.String())
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	if r.Body != nil {
		b, ok := r.Body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(r.Body); err != nil {
				return nil, fmt.Errorf("%s %s: encode the body: %w", r.Verb, r.Path, err)
			}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.Verb, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, */*")
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if c.cfg.Authorize != nil {
		if err := c.cfg.Authorize(req); err != nil {
			return nil, err
		}
	}
	return req, nil
}
