package isolation

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckKernelNamesWhatIsMissing(t *testing.T) {
	features := []kernelFeature{
		{"openat2", "5.6", func() error { return unix.EBADF }},
		{"mount_setattr", "5.12", func() error { return unix.ENOSYS }},
	}
	err := checkKernel(features)
	var ke *KernelError
	if !errors.As(err, &ke) {
		t.Fatalf("got %v, want a *KernelError", err)
	}
	if len(ke.Missing) != 1 || !strings.Contains(err.Error(), "mount_setattr (Linux 5.12)") ||
		!strings.Contains(err.Error(), "Linux "+MinKernel+" or later") {
		t.Errorf("error %q: want mount_setattr with its version, and the minimum", err)
	}
}

// The probes run on this kernel (6.1 in the VM matrix, newer on the host):
// each call exists, so none may say ENOSYS.
func TestKernelFeaturesHere(t *testing.T) {
	for _, f := range kernelFeatures {
		if err := f.probe(); errors.Is(err, unix.ENOSYS) || err == nil {
			t.Errorf("probe of %s: %v, want an error other than ENOSYS", f.name, err)
		}
	}
}
