package kube

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidateRefusesBadSteps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Step)
		field string
		want  string
	}{
		{"no name", func(s *Step) { s.Name = "" }, "name", "empty"},
		{"no id", func(s *Step) { s.ID = "" }, "id", "empty"},
		{"no image", func(s *Step) { s.Image = "" }, "image", "not an image"},
		{"image with space", func(s *Step) { s.Image = "a b" }, "image", "not an image"},
		{"no args", func(s *Step) { s.Args = nil }, "args", "nothing to run"},
		{"user name", func(s *Step) { s.User = "postgres" }, "user", "numeric user"},
		{"group name", func(s *Step) { s.User = "1000:staff" }, "user", "numeric group"},
		{"negative uid", func(s *Step) { s.User = "-1" }, "user", "numeric"},
		{"huge uid", func(s *Step) { s.User = "99999999999" }, "user", "numeric"},
		{"negative cpu", func(s *Step) { s.CPU = -1 }, "cpu", ">= 0"},
		{"NaN cpu", func(s *Step) { s.CPU = math.NaN() }, "cpu", ">= 0"},
		{"negative memory", func(s *Step) { s.Memory = -1 }, "memory", "negative"},
		{"negative timeout", func(s *Step) { s.Timeout = -1 }, "timeout", "negative"},
		{"no repo", func(s *Step) { s.Repo = "" }, "repo", "cache repository"},
		{"repo url", func(s *Step) { s.Repo = "https://r/x" }, "repo", "host[:port]/path"},
		{"repo without path", func(s *Step) { s.Repo = "r:5000" }, "repo", "host[:port]/path"},
		{"repo bad port", func(s *Step) { s.Repo = "r:99999/x" }, "repo", "not a TCP port"},
		{"env without =", func(s *Step) { s.Env = []string{"NOPE"} }, "env", "KEY=VALUE"},
		{"env bad name", func(s *Step) { s.Env = []string{"1A=x"} }, "env", "not an environment variable name"},
		{"secret bad name", func(s *Step) { s.Secrets = map[string]string{"A-B": testSecret} }, "secrets", "not an environment variable name"},
		{"layer bad digest", func(s *Step) { s.Workspace[0].Digest = "sha256:../../etc" }, "workspace layer 0", "sha256:<64 hex>"},
		{"layer bad diffID", func(s *Step) { s.Workspace[0].DiffID = "md5:x" }, "workspace layer 0", "diffID"},
		{"layer no size", func(s *Step) { s.Workspace[0].Size = 0 }, "workspace layer 0", "size"},
		{"layer media type", func(s *Step) { s.Workspace[0].MediaType = "text/plain" }, "workspace layer 0", "media type"},
		{"scratch relative", func(s *Step) { s.Scratch = []string{"cache"} }, "scratch", "clean absolute"},
		{"scratch root", func(s *Step) { s.Scratch = []string{"/"} }, "scratch", "clean absolute"},
		{"scratch dotdot", func(s *Step) { s.Scratch = []string{"/a/../workspace"} }, "scratch", "clean absolute"},
		{"scratch in workspace", func(s *Step) { s.Scratch = []string{"/workspace/node_modules"} }, "scratch", "cover"},
		{"scratch over pipe", func(s *Step) { s.Scratch = []string{"/.pipe"} }, "scratch", "cover"},
		{"scratch twice", func(s *Step) { s.Scratch = []string{"/c", "/c"} }, "scratch", "twice"},
		{"service no image", func(s *Step) { s.Services[0].Image = "" }, `service "db"`, "not an image"},
		{"service bad port", func(s *Step) { s.Services[1].Port = 70000 }, `service "cache"`, "TCP port"},
		{"service bad host", func(s *Step) { s.Services[0].Name = "my_db" }, `service "my_db"`, "host name"},
		{"alias injects hosts line", func(s *Step) { s.Services[0].Aliases = []string{"x\n1.2.3.4 evil"} }, `service "db"`, "host name"},
		{"alias with space", func(s *Step) { s.Services[0].Aliases = []string{"a b"} }, `service "db"`, "host name"},
		{"duplicate host", func(s *Step) { s.Services[1].Aliases = []string{"postgres"} }, `service "cache"`, `also service "db"`},
		{"negative retries", func(s *Step) { s.Services[0].ReadyRetries = -1 }, `service "db"`, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fullStep()
			tc.edit(s)
			err := s.validate(true)
			var se *StepError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StepError", err)
			}
			if se.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q (field %q), want field %q and %q", err, se.Field, tc.field, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("the error shows a secret value: %v", err)
			}
		})
	}
}

func TestValidateAcceptsGoodSteps(t *testing.T) {
	if err := fullStep().validate(true); err != nil {
		t.Fatal(err)
	}
	s := &Step{Name: "x", ID: "x", Image: "busybox", Args: []string{"true"}}
	if err := s.validate(false); err != nil {
		t.Fatalf("a step without agent needs no repo: %v", err)
	}
	for _, u := range []string{"", "0", "1000", "1000:1000", "0:0"} {
		if _, err := parseUser(u); err != nil {
			t.Errorf("user %q: %v", u, err)
		}
	}
}

func TestParseRepo(t *testing.T) {
	for _, tc := range []struct {
		repo     string
		insecure bool
		host     string
		ports    []int
	}{
		{"10.244.0.1:5000/pipe/cache", false, "10.244.0.1", []int{5000}},
		{"reg.test/cache", false, "reg.test", []int{443}},
		{"reg.test/cache", true, "reg.test", []int{443, 80}},
		{"[fd00::1]:5000/c", false, "fd00::1", []int{5000}},
	} {
		a, err := parseRepo(tc.repo, tc.insecure)
		if err != nil || a.Host != tc.host || !equalInts(a.Ports, tc.ports) {
			t.Errorf("parseRepo(%q) = %+v, %v; want %s %v", tc.repo, a, err, tc.host, tc.ports)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
