package isolation

import (
	"strings"
	"testing"
)

func TestCheckRootlessKernel(t *testing.T) {
	for rel, ok := range map[string]bool{"6.1.0-27-cloud-amd64": true, "5.11.0": true, "5.10.209": false, "4.19.0": false, "weird": true} {
		if err := checkRootlessKernel(rel); (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "5.11")) {
			t.Errorf("%s: %v", rel, err)
		}
	}
}
