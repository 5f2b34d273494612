package isolation

// defaultCapabilities is the capability set every container process keeps:
// Podman's default. Each name is spelled as in the OCI runtime spec and in
// Docker's seccomp profile (CAP_ prefix), so the seccomp filter can be
// specialised for exactly this set. Treat it as read-only.
var defaultCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_NET_BIND_SERVICE",
	"CAP_SETFCAP",
	"CAP_SETGID",
	"CAP_SETPCAP",
	"CAP_SETUID",
	"CAP_SYS_CHROOT",
}
