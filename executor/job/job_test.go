package job

import (
	"strings"
	"testing"

	"github.com/pipe-run/pipe/isolation"
)

func TestJobSpecValidate(t *testing.T) {
	ok := Container{Name: "main", Image: "x"}
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "a/b", Containers: []Container{ok}}, "job name"},
		{Spec{Name: strings.Repeat("a", 65)}, "job name"},
		{Spec{Name: "j", Network: "bridge"}, "network"},
		{Spec{Name: "j", Containers: []Container{ok, ok}}, "two containers"},
		{Spec{Name: "j", Containers: []Container{{Name: "Main", Image: "x"}}}, "container name"},
		{Spec{Name: "j", Containers: []Container{{Name: "m", Image: "x", HostTools: true}}}, "not both"},
		{Spec{Name: "j", Services: []Service{{Name: "s"}}}, "service"},
		{Spec{Name: "j", Services: []Service{{Name: "s", Image: "x"}, {Name: "s", Image: "y"}}}, "two services"},
	} {
		if err := tc.spec.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.spec, err, tc.want)
		}
	}
	good := Spec{Name: "gitlab-1-2", Containers: []Container{ok, {Name: "helper", HostTools: true}}, Services: []Service{{Name: "s0", Image: "x"}}}
	if err := good.validate(); err != nil {
		t.Error(err)
	}
}

func TestStateMountsStayInTheStateDir(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"..", "../x", "."} {
		if _, err := stateMounts(dir, []isolation.Mount{{Type: "bind", Source: bad, Target: "/x"}}); err == nil {
			t.Errorf("source %q: no error", bad)
		}
	}
	ms, err := stateMounts(dir, []isolation.Mount{{Type: "bind", Source: "builds/a", Target: "/b"}, {Type: "bind", Source: "/abs", Target: "/c"}})
	if err != nil || ms[0].Source != dir+"/builds/a" || ms[1].Source != "/abs" {
		t.Errorf("state mounts: %+v, %v", ms, err)
	}
}

func TestParseHostsKeepsTheHostsNames(t *testing.T) {
	got := parseHosts([]byte("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n# c\n10.0.0.5 gitlab.internal gitlab # the server\n10.0.0.6 gitlab\nbad\n"))
	want := map[string]string{"gitlab.internal": "10.0.0.5", "gitlab": "10.0.0.5"}
	if len(got) != len(want) || got["gitlab.internal"] != want["gitlab.internal"] || got["gitlab"] != want["gitlab"] {
		t.Errorf("parseHosts: %v, want %v", got, want)
	}
}
