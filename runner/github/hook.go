package github

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Input is what the runner writes on the hook's stdin (HookInput.cs).
type Input struct {
	Command      string          `json:"command"`
	ResponseFile string          `json:"responseFile"`
	Args         json.RawMessage `json:"args"`
	State        *State          `json:"state"`
}

// State is what pipe carries between the commands of one job.
type State struct {
	Job string `json:"job,omitempty"`
}

// PrepareJobArgs are prepare_job's args.
type PrepareJobArgs struct {
	Container *Container  `json:"container"`
	Services  []Container `json:"services"`
}

// Container is a HookContainer: the job container, a service (with its
// context name) or a container step.
type Container struct {
	ContextName          string            `json:"contextName"`
	Image                string            `json:"image"`
	Dockerfile           string            `json:"dockerfile"`
	EntryPoint           string            `json:"entryPoint"`
	EntryPointArgs       []string          `json:"entryPointArgs"`
	WorkingDirectory     string            `json:"workingDirectory"`
	CreateOptions        string            `json:"createOptions"`
	Registry             *Registry         `json:"registry"`
	EnvironmentVariables map[string]string `json:"environmentVariables"`
	PortMappings         []string          `json:"portMappings"`
	SystemMountVolumes   []Mount           `json:"systemMountVolumes"`
	UserMountVolumes     []Mount           `json:"userMountVolumes"`
}

// Registry is a container's registry login.
type Registry struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	ServerURL string `json:"serverUrl"`
}

// Mount is one volume of a container.
type Mount struct {
	SourceVolumePath string `json:"sourceVolumePath"`
	TargetVolumePath string `json:"targetVolumePath"`
	ReadOnly         bool   `json:"readOnly"`
}

// ScriptStepArgs are run_script_step's args.
type ScriptStepArgs struct {
	EntryPoint           string            `json:"entryPoint"`
	EntryPointArgs       []string          `json:"entryPointArgs"`
	EnvironmentVariables map[string]string `json:"environmentVariables"`
	PrependPath          []string          `json:"prependPath"`
	WorkingDirectory     string            `json:"workingDirectory"`
}

// Response is what pipe writes to the response file (HookResponse.cs).
type Response struct {
	State    *State           `json:"state,omitempty"`
	Context  *ResponseContext `json:"context,omitempty"`
	IsAlpine bool             `json:"isAlpine"`
}

// ResponseContext describes the job's containers to the runner.
type ResponseContext struct {
	Container *ContainerInfo  `json:"container,omitempty"`
	Services  []ContainerInfo `json:"services"`
}

// ContainerInfo is one container: its ports map container ports to host
// ports (the same: pipe's job containers share the host's network).
type ContainerInfo struct {
	ID      string            `json:"id"`
	Network string            `json:"network"`
	Ports   map[string]string `json:"ports"`
}

// ReadInput reads the hook's input.
func ReadInput(r io.Reader) (*Input, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the runner's input on stdin: %w", err)
	}
	var in Input
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("the runner's input on stdin is not the hook's JSON: %w (pipe gha-hook is run by the runner, through ACTIONS_RUNNER_CONTAINER_HOOKS)", err)
	}
	if in.Command == "" {
		return nil, fmt.Errorf("the runner's input has no command (want prepare_job, run_script_step, run_container_step or cleanup_job)")
	}
	return &in, nil
}

// args decodes the input's args into v.
func (in *Input) args(v any) error {
	if len(in.Args) == 0 || string(in.Args) == "null" {
		return nil
	}
	if err := json.Unmarshal(in.Args, v); err != nil {
		return fmt.Errorf("%s: args: %w", in.Command, err)
	}
	return nil
}

// env turns an env map into KEY=VALUE, in a stable order.
func env(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sortStrings(out)
	return out
}

// containerPorts are the container ports of port mappings
// ("host:container", "container", with "/proto" optional).
func containerPorts(maps []string) []string {
	var out []string
	for _, m := range maps {
		p := m
		if i := strings.LastIndexByte(p, ':'); i >= 0 {
			p = p[i+1:]
		}
		p, _, _ = strings.Cut(p, "/")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
