package gitlab

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipe-run/pipe/internal/pipetest"
	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/internal/testregistry"
)

// prepare pulls the job's image with the job's own registry credentials
// (the job token as CI_REGISTRY_PASSWORD, or the response's credentials),
// from a real registry on loopback that requires them.
func TestPrepareLogsInWithTheJobsCredentials(t *testing.T) {
	e := needRoot(t)
	reg := testregistry.Start(t, testregistry.Options{TLS: true, Users: map[string]string{"gitlab-ci-token": "job-token-1"}})
	img, err := pipetest.Image([]testimage.File{{Path: "etc/pipe-image", Body: "the private image\n"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host + "/group/private:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithTransport(reg.Transport()), remote.WithAuth(&authn.Basic{Username: "gitlab-ci-token", Password: "job-token-1"})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id       string
		vars     map[string]string
		response map[string]any
		ok       bool
	}{
		{"1101", map[string]string{"CI_REGISTRY": reg.Host, "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token-1"}, nil, true},
		{"1102", nil, map[string]any{"credentials": []map[string]string{{"type": "registry", "url": reg.Host, "username": "gitlab-ci-token", "password": "job-token-1"}}}, true},
		// The image is in the store by now: pull_policy always asks the
		// registry again, with this job's (wrong) token.
		{"1103", map[string]string{"CI_REGISTRY": reg.Host, "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "wrong"},
			map[string]any{"image": map[string]any{"name": ref.String(), "pull_policy": []string{"always"}}}, false},
	} {
		vars := jobVars(tc.id)
		vars["CI_JOB_IMAGE"] = ref.String()
		for k, v := range tc.vars {
			vars[k] = v
		}
		r := newRunnerSim(t, e.pipe, e.home, vars, tc.response)
		r.extra = []string{"SSL_CERT_FILE=" + reg.CAFile, "DOCKER_CONFIG=" + t.TempDir()}
		t.Cleanup(func() { r.call("gitlab", "cleanup") })
		code, out := r.call("gitlab", "prepare")
		if !tc.ok {
			if code != 2 || !strings.Contains(out, "private") {
				t.Errorf("job %s: prepare with a wrong job token exited %d (want 2): %s", tc.id, code, out)
			}
			assertNothingLeft(t, e.home, "gitlab-77-"+tc.id, "")
			continue
		}
		if code != 0 {
			t.Errorf("job %s: prepare exited %d: %s", tc.id, code, out)
			continue
		}
		if got := r.stage("build_script", "cat /etc/pipe-image\n"); got.Kind != "ok" || !strings.Contains(got.Output, "the private image") {
			t.Errorf("job %s: build_script: %s: %s", tc.id, got.Kind, got.Output)
		}
		if code, out := r.call("gitlab", "cleanup"); code != 0 {
			t.Errorf("job %s: cleanup exited %d: %s", tc.id, code, out)
		}
		assertNothingLeft(t, e.home, "gitlab-77-"+tc.id, "")
	}
}
