package isolation

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// keyctlProbeAMD64 is a static x86-64 program of a few instructions (busybox
// has no keyctl applet): keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
// then exit with the negated return value, so that exit status 1 is EPERM.
var keyctlProbeAMD64 = []byte{
	0xb8, 0xfa, 0x00, 0x00, 0x00, // mov eax, 250 (keyctl)
	0xbf, 0x00, 0x00, 0x00, 0x00, // mov edi, 0 (KEYCTL_GET_KEYRING_ID)
	0xbe, 0xfd, 0xff, 0xff, 0xff, // mov esi, -3 (KEY_SPEC_SESSION_KEYRING)
	0x31, 0xd2, // xor edx, edx
	0x0f, 0x05, // syscall
	0xf7, 0xd8, // neg eax
	0x89, 0xc7, // mov edi, eax
	0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
	0x0f, 0x05, // syscall
}

// tinyELF wraps x86-64 code in a minimal static executable.
func tinyELF(code []byte) []byte {
	const base, hdrs = 0x400000, 64 + 56
	size := uint64(hdrs + len(code))
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	le := binary.LittleEndian
	binary.Write(&b, le, struct {
		Type, Machine             uint16
		Version                   uint32
		Entry, Phoff, Shoff       uint64
		Flags                     uint32
		Ehsize, Phentsize, Phnum  uint16
		Shentsize, Shnum, Shstrnd uint16
	}{2, 0x3e, 1, base + hdrs, 64, 0, 0, 64, 56, 1, 0, 0, 0})
	binary.Write(&b, le, struct {
		Type, Flags                         uint32
		Offset, Vaddr, Paddr, Filesz, Memsz uint64
		Align                               uint64
	}{1, 5, 0, base, base, size, size, 0x1000})
	b.Write(code)
	return b.Bytes()
}

// The seccomp filter makes keyctl fail with EPERM inside a container.
func TestSeccompBlocksKeyctl(t *testing.T) {
	r := newTestRuntime(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the keyctl probe is x86-64 code") // the privilege tests cover keyctl on every arch
	}
	s := busybox(t, "/keyctl-probe")
	if err := os.WriteFile(filepath.Join(s.Root.Lower[0], "keyctl-probe"), tinyELF(keyctlProbeAMD64), 0o755); err != nil {
		t.Fatal(err)
	}
	res, out := run(t, r, s)
	if res.ExitCode != 1 {
		t.Errorf("keyctl in a container: exit %d (want 1: EPERM), output %q", res.ExitCode, out)
	}
}
