package kubeconfig

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The exec credential API versions pipe speaks.
var execVersions = map[string]bool{
	"client.authentication.k8s.io/v1":      true,
	"client.authentication.k8s.io/v1beta1": true,
}

// execTimeout bounds one run of a plugin.
const execTimeout = 2 * time.Minute

// execPlugin runs a user's credential plugin and caches what it prints
// until its expirationTimestamp (or a 401 answer).
type execPlugin struct {
	cfg     ExecConfig
	command string
	info    []byte // KUBERNETES_EXEC_INFO

	mu     sync.Mutex
	cached *execCredential
}

// execCredential is what one run of a plugin gave.
type execCredential struct {
	token   string
	cert    *tls.Certificate
	expires time.Time // zero: never
}

func newExecPlugin(cfg *ExecConfig, dir string, cl Cluster) (*execPlugin, error) {
	if !execVersions[cfg.APIVersion] {
		return nil, fmt.Errorf("the user's exec plugin has apiVersion %q: pipe supports client.authentication.k8s.io/v1 and v1beta1", cfg.APIVersion)
	}
	if cfg.Command == "" {
		return nil, errors.New("the user's exec plugin has no command")
	}
	cmd := cfg.Command
	if strings.ContainsRune(cmd, filepath.Separator) {
		cmd = resolve(dir, cmd)
	}
	info, err := execInfo(cfg, cl)
	if err != nil {
		return nil, err
	}
	return &execPlugin{cfg: *cfg, command: cmd, info: info}, nil
}

// execInfo is the ExecCredential the plugin gets in KUBERNETES_EXEC_INFO.
func execInfo(cfg *ExecConfig, cl Cluster) ([]byte, error) {
	spec := map[string]any{"interactive": false}
	if cfg.ProvideClusterInfo {
		c := map[string]any{"server": cl.Server}
		if cl.TLSServerName != "" {
			c["tls-server-name"] = cl.TLSServerName
		}
		if cl.InsecureSkipTLSVerify {
			c["insecure-skip-tls-verify"] = true
		}
		if ca, err := dataOrFile(cl.CertificateAuthorityData, cl.CertificateAuthority, cl.dir, "certificate-authority"); err == nil && len(ca) > 0 {
			c["certificate-authority-data"] = base64.StdEncoding.EncodeToString(ca)
		}
		spec["cluster"] = c
	}
	return json.Marshal(map[string]any{"kind": "ExecCredential", "apiVersion": cfg.APIVersion, "spec": spec})
}

func (p *execPlugin) authorize(r *http.Request) error {
	cred, err := p.credential(r.Context())
	if err != nil {
		return err
	}
	if cred.token != "" {
		r.Header.Set("Authorization", "Bearer "+cred.token)
	}
	return nil
}

// forget drops the cached credential (the server refused it).
func (p *execPlugin) forget() {
	p.mu.Lock()
	p.cached = nil
	p.mu.Unlock()
}

// credential is the cached credential, or a fresh one from the plugin.
func (p *execPlugin) credential(ctx context.Context) (*execCredential, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cached; c != nil && (c.expires.IsZero() || time.Now().Before(c.expires)) {
		return c, nil
	}
	c, err := p.run(ctx)
	if err != nil {
		return nil, err
	}
	p.cached = c
	return c, nil
}

// run runs the plugin once and reads its ExecCredential.
func (p *execPlugin) run(ctx context.Context) (*execCredential, error) {
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.command, p.cfg.Args...)
	cmd.Env = append(os.Environ(), "KUBERNETES_EXEC_INFO="+string(p.info))
	for _, e := range p.cfg.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, p.runError(err, stderr.String())
	}
	return parseExecCredential(stdout.Bytes(), p.cfg.APIVersion)
}

func (p *execPlugin) runError(err error, stderr string) error {
	msg := fmt.Sprintf("exec plugin %s: %v", p.cfg.Command, err)
	if s := strings.TrimSpace(stderr); s != "" {
		if len(s) > 500 {
			s = s[:500] + "..."
		}
		msg += ": " + s
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		if p.cfg.InstallHint != "" {
			msg += "; " + strings.TrimSpace(p.cfg.InstallHint)
		} else {
			msg += "; install it or fix the command in the kubeconfig"
		}
	}
	return errors.New(msg)
}

// wireExecCredential is the plugin's output.
type wireExecCredential struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Status     *struct {
		Token                 string     `json:"token"`
		ClientCertificateData string     `json:"clientCertificateData"`
		ClientKeyData         string     `json:"clientKeyData"`
		ExpirationTimestamp   *time.Time `json:"expirationTimestamp"`
	} `json:"status"`
}

// parseExecCredential checks and reads a plugin's output.
func parseExecCredential(out []byte, version string) (*execCredential, error) {
	var w wireExecCredential
	if err := json.Unmarshal(out, &w); err != nil {
		return nil, fmt.Errorf("exec plugin output is not an ExecCredential: %w", err)
	}
	if w.Kind != "ExecCredential" || w.APIVersion != version {
		return nil, fmt.Errorf("exec plugin printed kind %q of %q, want ExecCredential of %q", w.Kind, w.APIVersion, version)
	}
	if w.Status == nil {
		return nil, errors.New("exec plugin printed an ExecCredential without status")
	}
	s := w.Status
	c := &execCredential{token: s.Token}
	if s.ExpirationTimestamp != nil {
		c.expires = *s.ExpirationTimestamp
	}
	switch {
	case s.ClientCertificateData != "" && s.ClientKeyData != "":
		pair, err := tls.X509KeyPair([]byte(s.ClientCertificateData), []byte(s.ClientKeyData))
		if err != nil {
			return nil, fmt.Errorf("exec plugin's client certificate: %w", err)
		}
		c.cert = &pair
	case s.ClientCertificateData != "" || s.ClientKeyData != "":
		return nil, errors.New("exec plugin printed a client certificate without a key, or a key without a certificate")
	case s.Token == "":
		return nil, errors.New("exec plugin printed neither a token nor a client certificate")
	}
	return c, nil
}
