package isolation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# a comment

builder:x:1000:1000:builder:/home/builder:/bin/sh
broken line
bad:x:notanumber:0::/:/bin/sh
nohome:x:2000:2000
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

const testGroup = `root:x:0:
builder:x:1000:
users:x:100:builder,other
docker:x:999:other,builder
dup:x:1000:builder
nogroup:x:65534:
`

func TestResolveUser(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want execUser
		err  string
	}{
		{"", execUser{UID: 0, GID: 0, Home: "/root"}, ""},
		{"root", execUser{UID: 0, GID: 0, Home: "/root"}, ""},
		{"0", execUser{UID: 0, GID: 0, Home: "/root"}, ""},
		{"builder", execUser{UID: 1000, GID: 1000, Groups: []uint32{100, 999}, Home: "/home/builder"}, ""},
		{"1000", execUser{UID: 1000, GID: 1000, Groups: []uint32{100, 999}, Home: "/home/builder"}, ""},
		{"builder:users", execUser{UID: 1000, GID: 100, Groups: []uint32{999, 1000}, Home: "/home/builder"}, ""},
		{"builder:4242", execUser{UID: 1000, GID: 4242, Groups: []uint32{100, 999, 1000}, Home: "/home/builder"}, ""},
		{"1234", execUser{UID: 1234, GID: 0, Home: "/"}, ""},
		{"1234:5678", execUser{UID: 1234, GID: 5678, Home: "/"}, ""},
		{":100", execUser{UID: 0, GID: 100, Home: "/root"}, ""},
		{"nohome", execUser{UID: 2000, GID: 2000, Home: "/"}, ""},
		{"nobody:nogroup", execUser{UID: 65534, GID: 65534, Home: "/nonexistent"}, ""},
		{"ghost", execUser{}, `user "ghost" not found`},
		{"builder:ghosts", execUser{}, `group "ghosts" not found`},
		{"bad", execUser{}, `user "bad" not found`},
		{"4294967295", execUser{}, `not found`},
	} {
		got, err := resolveUser(tc.spec, strings.NewReader(testPasswd), strings.NewReader(testGroup))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q: (-want +got)\n%s", tc.spec, d)
		}
	}
}

func TestResolveUserWithoutFiles(t *testing.T) {
	got, err := resolveUser("", nil, nil)
	if err != nil || got.UID != 0 || got.GID != 0 || got.Home != "/" {
		t.Errorf("root without /etc/passwd: %+v, %v", got, err)
	}
	if _, err := resolveUser("builder", nil, nil); err == nil {
		t.Errorf("a name without /etc/passwd: no error")
	}
	got, err = resolveUser("1000:1000", nil, nil)
	if err != nil || got.UID != 1000 || got.GID != 1000 {
		t.Errorf("numbers without /etc/passwd: %+v, %v", got, err)
	}
}

func FuzzResolveUser(f *testing.F) {
	f.Add("builder:users", testPasswd, testGroup)
	f.Add("1:2", "a:b:c", "::::")
	f.Fuzz(func(t *testing.T, spec, passwd, group string) {
		_, _ = resolveUser(spec, strings.NewReader(passwd), strings.NewReader(group))
	})
}
