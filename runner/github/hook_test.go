package github

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pipe-run/pipe/isolation"
)

// The shape of the hooks project's examples/run-script-step.json.
const exampleScriptStep = `{"command":"run_script_step","responseFile":"/users/thboop/runner/_work/{guid}.json","state":{"job":"gha-abc"},` +
	`"args":{"entryPoint":"/bin/bash","entryPointArgs":["-c","echo \"hello world2\""],"environmentVariables":{"NODE_ENV":"development"},` +
	`"prependPath":["/foo/bar","bar/foo"],"workingDirectory":"/__w/thboop-test2/thboop-test2"}}`

func TestReadInputOfTheExampleShape(t *testing.T) {
	in, err := ReadInput(strings.NewReader(exampleScriptStep))
	if err != nil {
		t.Fatal(err)
	}
	var a ScriptStepArgs
	if err := in.args(&a); err != nil {
		t.Fatal(err)
	}
	if in.Command != "run_script_step" || in.State.Job != "gha-abc" || a.EntryPoint != "/bin/bash" ||
		!reflect.DeepEqual(a.PrependPath, []string{"/foo/bar", "bar/foo"}) || !reflect.DeepEqual(env(a.EnvironmentVariables), []string{"NODE_ENV=development"}) {
		t.Errorf("input: %+v args %+v", in, a)
	}
	for _, bad := range []string{"", "{", `{"args":{}}`} {
		if _, err := ReadInput(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadInput(%q): no error", bad)
		}
	}
	h := &Hook{}
	if err := h.Run(context.Background(), &Input{Command: "dance"}); err == nil || !strings.Contains(err.Error(), "prepare_job") {
		t.Errorf("unknown command: %v", err)
	}
}

func FuzzReadInput(f *testing.F) {
	f.Add(exampleScriptStep)
	f.Add(`{"command":"prepare_job","args":{"container":{"image":"x","portMappings":["1:2/tcp"],"systemMountVolumes":[{"sourceVolumePath":"v","targetVolumePath":"/a"}]},"services":[]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		in, err := ReadInput(strings.NewReader(s))
		if err != nil {
			return
		}
		var a PrepareJobArgs
		if in.args(&a) != nil || a.Container == nil {
			return
		}
		for _, m := range mounts(append(a.Container.SystemMountVolumes, a.Container.UserMountVolumes...)) {
			if !strings.HasPrefix(m.Target, "/") || strings.HasPrefix(m.Source, "..") {
				t.Errorf("mount %+v from %q", m, s)
			}
		}
		_ = portsOf(*a.Container)
	})
}

func TestMountsOfTheRunner(t *testing.T) {
	got := mounts([]Mount{
		{SourceVolumePath: "/home/runner/_work", TargetVolumePath: "/__w"},
		{SourceVolumePath: "/home/runner/externals", TargetVolumePath: "/__e", ReadOnly: true},
		{SourceVolumePath: "my_docker_volume", TargetVolumePath: "/volume_mount"},
		{SourceVolumePath: "../../etc", TargetVolumePath: "/x"},
		{SourceVolumePath: "/a", TargetVolumePath: "relative"},
	})
	want := []isolation.Mount{
		{Type: isolation.MountBind, Source: "/home/runner/_work", Target: "/__w"},
		{Type: isolation.MountBind, Source: "/home/runner/externals", Target: "/__e", ReadOnly: true},
		{Type: isolation.MountBind, Source: "volumes/my_docker_volume", Target: "/volume_mount"},
		{Type: isolation.MountBind, Source: "volumes/.._.._etc", Target: "/x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts:\n got %+v\nwant %+v", got, want)
	}
	if p := portsOf(Container{PortMappings: []string{"8080:80", "5432", "1:53/udp"}}); !reflect.DeepEqual(p, map[string]string{"80": "80", "5432": "5432", "53": "53"}) {
		t.Errorf("ports: %v", p)
	}
}

func TestKeychainOfTheRegistryBlock(t *testing.T) {
	k := keychain{}
	k.add(&Registry{Username: "u", Password: "p", ServerURL: "https://registry.example.com:5000/v2"})
	k.add(&Registry{Username: "d", Password: "q", ServerURL: "https://" + name.DefaultRegistry + "/v1/"})
	k.add(&Registry{Username: "e", Password: "r"})
	k.add(nil)
	for host, user := range map[string]string{"registry.example.com:5000": "u", name.DefaultRegistry: "e"} {
		reg, _ := name.NewRegistry(host)
		a, err := k.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := a.Authorization(); c.Username != user {
			t.Errorf("%s: user %q, want %q", host, c.Username, user)
		}
	}
}

func TestJobNamesOfARunner(t *testing.T) {
	for runner, want := range map[string]string{"": "gha-", "my runner/1": "gha-myrunner1.", strings.Repeat("r", 80): "gha-" + strings.Repeat("r", 40) + "."} {
		if got := jobPrefix(runner); got != want {
			t.Errorf("jobPrefix(%q) = %q, want %q", runner, got, want)
		}
	}
}
