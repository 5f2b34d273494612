package gitlab

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pipe-run/pipe/executor/job"
	gitlabci "github.com/pipe-run/pipe/formats/gitlab"
)

// Service is one entry of CUSTOM_ENV_CI_JOB_SERVICES (and of the response's
// services).
type Service struct {
	Name       string            `json:"name"`
	Alias      string            `json:"alias"`
	Entrypoint []string          `json:"entrypoint"`
	Command    []string          `json:"command"`
	Variables  map[string]string `json:"variables"`
}

// parseServices reads CUSTOM_ENV_CI_JOB_SERVICES: a JSON array, or empty
// when the job has none.
func parseServices(s string) ([]Service, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Service
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("CUSTOM_ENV_CI_JOB_SERVICES: not a JSON array of services: %w", err)
	}
	for i, sv := range out {
		if sv.Name == "" {
			return nil, fmt.Errorf("CUSTOM_ENV_CI_JOB_SERVICES: service %d has no name (image)", i+1)
		}
	}
	return out, nil
}

// Aliases are the host names GitLab gives a service (its alias, then the
// names derived from its image), as formats/gitlab reads them for
// pipe run -f .gitlab-ci.yml, kept to those /etc/hosts can hold.
func (s Service) Aliases() []string {
	return gitlabci.ServiceHostNames(s.Alias, s.Name, hostName)
}

// hostName says whether a can be a name in /etc/hosts: GitLab's derived
// names keep a registry's port (host:5000__image).
func hostName(a string) bool {
	if a == "" || len(a) > 253 {
		return false
	}
	for _, c := range []byte(a) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// jobServices turns the job's services into the executor's.
func jobServices(list []Service) []job.Service {
	out := make([]job.Service, 0, len(list))
	for i, s := range list {
		env := make([]string, 0, len(s.Variables))
		for k, v := range s.Variables {
			env = append(env, k+"="+v)
		}
		sort.Strings(env)
		out = append(out, job.Service{Name: fmt.Sprintf("s%d", i), Image: s.Name, Aliases: s.Aliases(),
			Entrypoint: s.Entrypoint, Command: s.Command, Env: env})
	}
	return out
}
