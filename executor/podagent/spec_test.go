package podagent

import (
	"strings"
	"testing"
)

const (
	testDigest = "sha256:" + "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	testDiffID = "sha256:" + "cd0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
)

func TestParseSpec(t *testing.T) {
	good := `{"repo":"10.244.0.1:5000/team/cache","layers":[{"digest":"` + testDigest + `","diffID":"` + testDiffID + `","size":12,"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd"}],"insecure":false}`
	sp, err := ParseSpec(good)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Repo != "10.244.0.1:5000/team/cache" || len(sp.Layers) != 1 || sp.Layers[0].Size != 12 {
		t.Errorf("parsed %+v", sp)
	}
	for _, c := range []struct{ name, spec, want string }{
		{"empty", "", "PIPE_AGENT_SPEC is empty"},
		{"not json", "{", "PIPE_AGENT_SPEC"},
		{"unknown field", `{"repo":"h:1/r","layer":[]}`, `unknown field "layer"`},
		{"no repo", `{"layers":[]}`, `"repo" is missing`},
		{"bad repo", `{"repo":"UPPER CASE/x"}`, `repo "UPPER CASE/x"`},
		{"bad digest", `{"repo":"h:1/r","layers":[{"digest":"sha256:12","diffID":"` + testDiffID + `"}]}`, "layer 1: digest"},
		{"md5", `{"repo":"h:1/r","layers":[{"digest":"md5:` + strings.Repeat("a", 32) + `","diffID":"` + testDiffID + `"}]}`, "layer 1: digest"},
		{"no diffID", `{"repo":"h:1/r","layers":[{"digest":"` + testDigest + `"}]}`, "layer 1: diffID"},
		{"negative size", `{"repo":"h:1/r","layers":[{"digest":"` + testDigest + `","diffID":"` + testDiffID + `","size":-1}]}`, "negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseSpec(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}

func TestTerminationMessage(t *testing.T) {
	m := Termination{Exit: 3, Diff: &Layer{Digest: testDigest, DiffID: testDiffID, Size: 10, MediaType: "m"}}
	want := `{"exit":3,"diff":{"digest":"` + testDigest + `","diffID":"` + testDiffID + `","size":10,"mediaType":"m"}}`
	if got := string(m.encode()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	long := Termination{Exit: 1, Error: strings.Repeat("é", 5000)}
	if b := long.encode(); len(b) > maxTermination || !strings.HasPrefix(string(b), `{"exit":1,"error":"`) {
		t.Errorf("a long error gives %d bytes: %.60s", len(b), b)
	}
	if got := string(Termination{Exit: 0}.encode()); got != `{"exit":0}` {
		t.Errorf("no diff: %s", got)
	}
}

func TestPushedJSON(t *testing.T) {
	for _, c := range []struct {
		p    Pushed
		want string
	}{
		{Pushed{Layer: Layer{Digest: testDigest, DiffID: testDiffID, Size: 5, MediaType: "m"}}, `{"digest":"` + testDigest + `","diffID":"` + testDiffID + `","size":5,"mediaType":"m"}`},
		{Pushed{Error: "boom"}, `{"error":"boom"}`},
		{Pushed{Unchanged: true}, `{"unchanged":true}`},
	} {
		b, err := c.p.MarshalJSON()
		if err != nil || string(b) != c.want {
			t.Errorf("got %s %v, want %s", b, err, c.want)
		}
	}
}
