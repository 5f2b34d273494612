package gitlab

import (
	"encoding/json"
	"fmt"
	"os"
)

// Response is what pipe reads of JOB_RESPONSE_FILE, the job as GitLab sent
// it to the runner.
type Response struct {
	ID          int64        `json:"id"`
	Image       ImageSpec    `json:"image"`
	Services    []Service    `json:"services"`
	Credentials []Credential `json:"credentials"`
	Variables   []Variable   `json:"variables"`
}

// ImageSpec is the job's image (the entrypoint is not used: see README).
type ImageSpec struct {
	Name       string   `json:"name"`
	Entrypoint []string `json:"entrypoint"`
	PullPolicy []string `json:"pull_policy"` // always, if-not-present, never: the first is used
}

// Credential is one of the job's credentials; type "registry" logs in to
// a registry.
type Credential struct {
	Type     string `json:"type"`
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Variable is one job variable.
type Variable struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// readResponse reads the job response file; a missing path (an old runner)
// is an empty response.
func readResponse(path string) (*Response, error) {
	if path == "" {
		return &Response{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("JOB_RESPONSE_FILE: %w", err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("JOB_RESPONSE_FILE %s: not the job's JSON: %w", path, err)
	}
	return &r, nil
}
