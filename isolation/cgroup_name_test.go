package isolation

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidCgroupName checks the hand-written matcher against the pattern
// it stands for.
func TestValidCgroupName(t *testing.T) {
	re := regexp.MustCompile(cgroupNamePattern)
	for _, s := range []string{"", "pipe", "a.b-c_D9", ".", "..", "a/b", "a b", "ü", "x\n", "-",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "pipe-test-isolation-123"} {
		if got, want := validCgroupName(s), re.MatchString(s); got != want {
			t.Errorf("validCgroupName(%q) = %v, want %v", s, got, want)
		}
	}
}
