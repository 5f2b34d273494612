package kubeconfig

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// file is one kubeconfig file, as kubectl writes it.
type file struct {
	CurrentContext string         `yaml:"current-context"`
	Clusters       []namedCluster `yaml:"clusters"`
	Users          []namedUser    `yaml:"users"`
	Contexts       []namedContext `yaml:"contexts"`
}

type namedCluster struct {
	Name    string  `yaml:"name"`
	Cluster Cluster `yaml:"cluster"`
}

type namedUser struct {
	Name string `yaml:"name"`
	User User   `yaml:"user"`
}

type namedContext struct {
	Name    string  `yaml:"name"`
	Context Context `yaml:"context"`
}

// Cluster is a kubeconfig's cluster entry.
type Cluster struct {
	Server                   string `yaml:"server"`
	TLSServerName            string `yaml:"tls-server-name"`
	InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
	CertificateAuthority     string `yaml:"certificate-authority"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
	ProxyURL                 string `yaml:"proxy-url"`

	dir string // the directory of the file that defined it
}

// User is a kubeconfig's user (AuthInfo) entry.
type User struct {
	ClientCertificate     string         `yaml:"client-certificate"`
	ClientCertificateData string         `yaml:"client-certificate-data"`
	ClientKey             string         `yaml:"client-key"`
	ClientKeyData         string         `yaml:"client-key-data"`
	Token                 string         `yaml:"token"`
	TokenFile             string         `yaml:"tokenFile"`
	Username              string         `yaml:"username"`
	Password              string         `yaml:"password"`
	Exec                  *ExecConfig    `yaml:"exec"`
	AuthProvider          map[string]any `yaml:"auth-provider"`
	Impersonate           string         `yaml:"as"`

	dir string
}

// ExecConfig is a user's exec credential plugin.
type ExecConfig struct {
	APIVersion         string    `yaml:"apiVersion"`
	Command            string    `yaml:"command"`
	Args               []string  `yaml:"args"`
	Env                []ExecEnv `yaml:"env"`
	InstallHint        string    `yaml:"installHint"`
	ProvideClusterInfo bool      `yaml:"provideClusterInfo"`
	InteractiveMode    string    `yaml:"interactiveMode"`
}

// ExecEnv is one variable of a plugin's environment.
type ExecEnv struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// Context is a kubeconfig's context entry.
type Context struct {
	Cluster   string `yaml:"cluster"`
	User      string `yaml:"user"`
	Namespace string `yaml:"namespace"`
}

// merged is the kubeconfig files merged by kubectl's rules.
type merged struct {
	currentContext string
	clusters       map[string]Cluster
	users          map[string]User
	contexts       map[string]Context
}

func (m *merged) empty() bool {
	return len(m.clusters) == 0 && len(m.users) == 0 && len(m.contexts) == 0 && m.currentContext == ""
}

// parse decodes one file's content; path names it in errors and its
// directory anchors relative paths.
func parse(path string, data []byte) (*file, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s is not a kubeconfig: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range f.Clusters {
		f.Clusters[i].Cluster.dir = dir
	}
	for i := range f.Users {
		f.Users[i].User.dir = dir
	}
	return &f, nil
}

// readMerged reads and merges paths: the first file to define a name or
// the current context wins. Missing files are skipped unless strict.
func readMerged(paths []string, strict bool) (*merged, error) {
	m := &merged{clusters: map[string]Cluster{}, users: map[string]User{}, contexts: map[string]Context{}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) && !strict {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read kubeconfig: %w", err)
		}
		f, err := parse(p, data)
		if err != nil {
			return nil, err
		}
		m.add(f)
	}
	return m, nil
}

func (m *merged) add(f *file) {
	if m.currentContext == "" {
		m.currentContext = f.CurrentContext
	}
	for _, c := range f.Clusters {
		if _, ok := m.clusters[c.Name]; !ok {
			m.clusters[c.Name] = c.Cluster
		}
	}
	for _, u := range f.Users {
		if _, ok := m.users[u.Name]; !ok {
			m.users[u.Name] = u.User
		}
	}
	for _, c := range f.Contexts {
		if _, ok := m.contexts[c.Name]; !ok {
			m.contexts[c.Name] = c.Context
		}
	}
}

// resolve makes a relative path of the file in dir absolute.
func resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// dataOrFile is base64 data if set, else the content of file (relative to
// dir); what names the field in errors.
func dataOrFile(data, file, dir, what string) ([]byte, error) {
	if data != "" {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, fmt.Errorf("%s-data is not base64: %w", what, err)
		}
		return b, nil
	}
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(resolve(dir, file))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}
