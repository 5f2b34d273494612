package runlog

import (
	"encoding/base64"
	"strings"
	"sync"
	"testing"
)

const testSecret = "hunter2-S3cr3t!"

func TestMaskerMask(t *testing.T) {
	multi := "line-one-AAA\nline-two-BBB\n"
	b64 := func(prefix, s, suffix string) string {
		return base64.StdEncoding.EncodeToString([]byte(prefix + s + suffix))
	}
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"plain", []string{testSecret}, "token=" + testSecret + " ok", "token=*** ok"},
		{"twice", []string{testSecret}, testSecret + testSecret, "***"},
		{"two secrets overlapping", []string{"abcdef", "defghi"}, "xxabcdefghixx", "xx***xx"},
		{"substring of another", []string{"abcd1234", "cd12"}, "abcd1234 cd12", "*** ***"},
		{"no secret", []string{testSecret}, "nothing to see", "nothing to see"},
		{"short value not masked", []string{"abc"}, "abc abc", "abc abc"},
		{"empty value ignored", []string{""}, "text", "text"},
		{"trailing newline in value", []string{testSecret + "\n"}, "x " + testSecret + " y", "x *** y"},
		{"multi-line: line one", []string{multi}, "got line-one-AAA here", "got *** here"},
		{"multi-line: line two", []string{multi}, "line-two-BBB", "***"},
		{"base64 std", []string{testSecret}, "b64: " + b64("", testSecret, ""), "b64: ***"},
		{"base64 url", []string{"\xfb\xff\xfe-secret-\xff\xfe"}, base64.URLEncoding.EncodeToString([]byte("\xfb\xff\xfe-secret-\xff\xfe")), "***"},
		{"base64 raw", []string{testSecret}, base64.RawStdEncoding.EncodeToString([]byte(testSecret)), "***"},
		{"base64 of value+newline", []string{testSecret}, b64("", testSecret, "\n"), "***" + b64("", testSecret, "\n")[20:]},
		{"url escaped", []string{"p@ss word/x"}, "u=p%40ss+word%2Fx", "u=***"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NewMasker(tc.secrets).Mask(tc.in)
			if got != tc.want {
				t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestMaskerBase64Alignments hides a secret at every offset inside a longer
// base64 stream: whatever the alignment, the characters that encode only
// the secret are masked and the secret cannot be decoded from what is left.
func TestMaskerBase64Alignments(t *testing.T) {
	m := NewMasker([]string{testSecret})
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
		for pre := 0; pre < 7; pre++ {
			for post := 0; post < 4; post++ {
				data := strings.Repeat("P", pre) + testSecret + strings.Repeat("Q", post)
				out := m.Mask("data " + enc.EncodeToString([]byte(data)) + " end")
				if !strings.Contains(out, "***") {
					t.Errorf("pre=%d post=%d: not masked: %s", pre, post, out)
				}
				for _, part := range strings.Split(out, "***") {
					if dec, err := enc.DecodeString(strings.TrimPrefix(strings.TrimSuffix(part, " end"), "data ")); err == nil && strings.Contains(string(dec), testSecret[:MinSecretLen+2]) {
						t.Errorf("pre=%d post=%d: secret decodable from %q", pre, post, part)
					}
				}
			}
		}
	}
}

func TestMaskerWarnsShortSecrets(t *testing.T) {
	m := NewMasker([]string{"a", testSecret, "xyz"})
	w := m.Warnings()
	if len(w) != 2 {
		t.Fatalf("warnings = %q, want 2", w)
	}
	for _, s := range w {
		if strings.Contains(s, "xyz") {
			t.Errorf("warning names the value: %q", s)
		}
	}
	if m.Mask("a xyz") != "a xyz" {
		t.Error("short values must not be masked")
	}
}

func TestMaskEventFields(t *testing.T) {
	m := NewMasker([]string{testSecret})
	e := m.MaskEvent(Event{Line: "l " + testSecret, Error: "e " + testSecret + "\x1b[31m", Reason: "r " + testSecret})
	for _, s := range []string{e.Line, e.Error, e.Reason} {
		if strings.Contains(s, testSecret) || strings.Contains(s, "\x1b") {
			t.Errorf("not masked or sanitised: %q", s)
		}
	}
}

// stepLogLines runs writes through a StepLog and returns the lines it emitted.
func stepLogLines(t *testing.T, secrets []string, writes func(stdout, stderr *StepLog)) []string {
	t.Helper()
	var mu sync.Mutex
	var lines []string
	l := NewStepLog("s", NewMasker(secrets), func(e Event) {
		mu.Lock()
		lines = append(lines, e.Line)
		mu.Unlock()
	}, nil)
	writes(l, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestStepLogMasks(t *testing.T) {
	half := len(testSecret) / 2
	tests := []struct {
		name   string
		writes func(out, errw *StepLog)
		want   []string
	}{
		{"one write", func(o, e *StepLog) { o.Write([]byte("a " + testSecret + " b\n")) }, []string{"a *** b"}},
		{"split across two writes", func(o, e *StepLog) {
			o.Write([]byte("a " + testSecret[:half]))
			o.Write([]byte(testSecret[half:] + " b\n"))
		}, []string{"a *** b"}},
		{"split across stdout and stderr", func(o, e *StepLog) {
			o.Write([]byte("a " + testSecret[:half]))
			e.Write([]byte(testSecret[half:] + " b\n"))
		}, []string{"a *** b"}},
		{"byte by byte", func(o, e *StepLog) {
			for _, c := range []byte("x" + testSecret + "\n") {
				o.Write([]byte{c})
			}
		}, []string{"x***"}},
		{"joined by a removed control", func(o, e *StepLog) {
			o.Write([]byte(testSecret[:half] + "\x1b[0m" + testSecret[half:] + "\n"))
		}, []string{"***"}},
		{"after carriage return", func(o, e *StepLog) { o.Write([]byte("10%\r" + testSecret + "\r\n")) }, []string{"***"}},
		{"multi-line secret printed", func(o, e *StepLog) { o.Write([]byte("line-one-AAA\nline-two-BBB\n")) }, []string{"***", "***"}},
		{"no newline at end", func(o, e *StepLog) { o.Write([]byte(testSecret)) }, []string{"***"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := stepLogLines(t, []string{testSecret, "line-one-AAA\nline-two-BBB"}, tc.writes)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lines = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStepLogSecretAtLineCut checks that a secret straddling the 64 KiB cut
// of a long line is masked rather than half shown.
func TestStepLogSecretAtLineCut(t *testing.T) {
	for _, off := range []int{-len(testSecret), -3, 0, 3} {
		line := strings.Repeat("x", MaxLineBytes+off) + testSecret + strings.Repeat("y", 100)
		got := stepLogLines(t, []string{testSecret}, func(o, _ *StepLog) { o.Write([]byte(line + "\n")) })
		if len(got) != 1 || strings.Contains(got[0], testSecret[:4]) {
			t.Errorf("offset %d: secret prefix visible at the cut: ...%q", off, got[0][max(0, len(got[0])-60):])
		}
	}
}
