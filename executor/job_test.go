package executor

import (
	"github.com/pipe-run/pipe/isolation"
	"strings"
	"testing"
)

func TestJobSpecValidate(t *testing.T) {
	ok := JobContainer{Name: "main", Image: "x"}
	for _, tc := range []struct {
		spec JobSpec
		want string
	}{
		{JobSpec{Name: "a/b", Containers: []JobContainer{ok}}, "job name"},
		{JobSpec{Name: strings.Repeat("a", 65)}, "job name"},
		{JobSpec{Name: "j", Network: "bridge"}, "network"},
		{JobSpec{Name: "j", Containers: []JobContainer{ok, ok}}, "two containers"},
		{JobSpec{Name: "j", Containers: []JobContainer{{Name: "Main", Image: "x"}}}, "container name"},
		{JobSpec{Name: "j", Containers: []JobContainer{{Name: "m", Image: "x", HostTools: true}}}, "not both"},
		{JobSpec{Name: "j", Services: []JobService{{Name: "s"}}}, "service"},
		{JobSpec{Name: "j", Services: []JobService{{Name: "s", Image: "x"}, {Name: "s", Image: "y"}}}, "two services"},
	} {
		if err := tc.spec.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error about %s", tc.spec, err, tc.want)
		}
	}
	good := JobSpec{Name: "gitlab-1-2", Containers: []JobContainer{ok, {Name: "helper", HostTools: true}}, Services: []JobService{{Name: "s0", Image: "x"}}}
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
