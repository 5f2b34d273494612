package isolation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Runtime creates containers on this host. Its methods are safe for
// concurrent use. One Runtime per pipe process is the intended use; several
// pipe processes may share one StateDir.
type Runtime struct {
	opts    Options
	cg      *cgroupManager
	exe     *os.File     // init's binary, unwritable (sealedInit, sealedSelf: CVE-2019-5736)
	self    procIdentity // this pipe process, as recorded in the state dir
	seccomp []byte       // the default seccomp profile, compiled once (encodeFilter)
	netns   *netnsPool   // fresh network namespaces made ahead of time
	nsMaker *netnsMaker  // rootless: the thread that makes them (nil: inNewNetNS)
	inits   *initPool    // container inits started ahead of time (Options.Prestart)

	noCgroupWhy string    // rootless without a cgroup: why (Limits are not applied)
	limitsWarn  sync.Once // the one warning that says so

	closeOnce sync.Once
	closeErr  error
}

// validName says whether s may be a Spec.ID or a netns name:
// 1 to 128 of [a-zA-Z0-9_.-].
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// Available says whether containers can run here, and if not, what is
// missing (nil when they can).
func Available() error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("containers need root, or a user namespace of pipe's (EnterUserNS)"))
	}
	for _, ns := range []string{"mnt", "pid", "uts", "ipc", "net", "cgroup"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			errs = append(errs, fmt.Errorf("the kernel has no %s namespaces: %w", ns, err))
		}
	}
	if err := checkKernel(kernelFeatures[:]); err != nil {
		errs = append(errs, err)
	}
	if _, err := newCgroupManager(""); err != nil {
		errs = append(errs, fmt.Errorf("no usable cgroups: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("containers cannot run here: %w", err)
	}
	return nil
}

// New returns a Runtime: it detects cgroup v1 or v2, prepares the state dir
// and the scratch tmpfs, and removes what dead pipe processes left behind.
func New(opts Options) (*Runtime, error) {
	opts = opts.withDefaults()
	if err := checkKernel(kernelFeatures[:]); err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	for _, d := range []string{opts.StateDir, containersDir(opts), netnsDir(opts), opts.ScratchDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("isolation: state dir: %w", err)
		}
	}
	if opts.UserNS != nil {
		if err := checkRootlessKernel(kernelRelease()); err != nil {
			return nil, fmt.Errorf("isolation: %w", err)
		}
		if err := checkOwnDir(opts.StateDir); err != nil {
			return nil, fmt.Errorf("isolation: %w", err)
		}
	}
	cg, noCgroupWhy, err := runtimeCgroups(opts)
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	if opts.IODevicePath != "" {
		// Not every path is on a block device (tmpfs, overlay): then the I/O
		// limits are skipped, as a missing io controller is.
		_ = cg.setIODeviceOf(opts.IODevicePath)
	}
	self, err := identityOf(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	r := &Runtime{opts: opts, cg: cg, self: self, noCgroupWhy: noCgroupWhy}
	exe, err := initExecutable(opts)
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	r.exe = exe
	mounted, err := mountScratch(opts)
	if err == nil && opts.UserNS != nil {
		mounted, err = r.checkRootlessScratch(mounted)
		opts = r.opts
	}
	fail := func(err error) (*Runtime, error) {
		if r.inits != nil {
			err = errors.Join(err, r.inits.close())
		}
		exe.Close()
		if mounted {
			_ = unix.Unmount(opts.ScratchDir, unix.MNT_DETACH)
		}
		return nil, err
	}
	if err != nil {
		return fail(err)
	}
	// The first init starts now: its clone, exec and Go start take longer
	// than the rest of the opening (the seccomp program, the clean-up after
	// dead pipes, which leaves a live pipe's cgroups and records alone). It
	// is cloned after the scratch tmpfs is mounted: its mount namespace is a
	// copy of this one. The program and the network namespaces are taken at
	// Start, after New has returned.
	if opts.UserNS == nil {
		r.inits = newInitPool(r, opts.Prestart, r.reserveEarly())
	}
	prog, err := defaultSeccompProgram()
	if err != nil {
		return fail(fmt.Errorf("isolation: %w", err))
	}
	r.seccomp = encodeFilter(prog)
	if err := r.Cleanup(); err != nil {
		return fail(err)
	}
	if opts.UserNS != nil {
		r.nsMaker = newRootlessNetnsMaker()
		r.inits = newInitPool(r, opts.Prestart, nil)
	}
	r.netns = newNetnsPool(netnsPoolSize, r.nsMaker)
	return r, nil
}

// initExecutable is the sealed file containers' inits run from: the init
// binary of Options.Init, else pipe's own.
func initExecutable(o Options) (*os.File, error) {
	if o.Init != nil {
		if o.InitKey != "" {
			if f, err := storedInit(o.StateDir, o.InitKey, o.Init); err == nil {
				return f, nil
			}
		}
		return sealedInit(o.Init)
	}
	return sealedSelf(o.StateDir)
}

func (o Options) withDefaults() Options {
	if o.StateDir == "" && o.UserNS != nil {
		o.StateDir = rootlessStateDir(o.UserNS)
	}
	if o.StateDir == "" {
		o.StateDir = "/run/pipe"
	}
	if o.ScratchDir == "" {
		o.ScratchDir = filepath.Join(o.StateDir, "scratch")
	}
	if o.CgroupParent == "" {
		o.CgroupParent = defaultCgroupParent
	}
	return o
}

func containersDir(o Options) string { return filepath.Join(o.StateDir, "containers") }
func netnsDir(o Options) string      { return filepath.Join(o.StateDir, "netns") }

// mountScratch mounts the scratch tmpfs unless one is there already (from
// another pipe process sharing the state dir). It says whether it mounted.
func mountScratch(o Options) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(o.ScratchDir, &st); err != nil {
		return false, fmt.Errorf("isolation: scratch dir: %w", err)
	}
	if st.Type == unix.TMPFS_MAGIC && isMountPoint(o.ScratchDir) {
		return false, nil
	}
	data := "mode=0700"
	if o.ScratchSize > 0 {
		data += fmt.Sprintf(",size=%d", o.ScratchSize)
	}
	if err := unix.Mount("pipe-scratch", o.ScratchDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return false, fmt.Errorf("isolation: mount scratch tmpfs on %s: %w", o.ScratchDir, err)
	}
	return true, nil
}

// isMountPoint says whether dir is on another device than its parent.
func isMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// Close releases the Runtime: its spare network namespaces, the memfd copy
// of pipe, and the scratch tmpfs when no container of any pipe process is
// recorded in the state dir. Call it after every container is destroyed;
// the Runtime cannot start containers afterwards. It is idempotent.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() { r.closeErr = r.close() })
	return r.closeErr
}

func (r *Runtime) close() error {
	ierr := r.inits.close()
	r.netns.close()
	r.nsMaker.close()
	r.exe.Close()
	if ierr != nil {
		return fmt.Errorf("isolation: %w", ierr)
	}
	entries, err := os.ReadDir(containersDir(r.opts))
	if err != nil || len(entries) > 0 || !isMountPoint(r.opts.ScratchDir) {
		return nil
	}
	if err := unix.Unmount(r.opts.ScratchDir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("isolation: unmount scratch tmpfs %s: %w", r.opts.ScratchDir, err)
	}
	return nil
}

// Expect tells the Runtime that n more containers are about to start, the
// next one included, so that it prestarts (Options.Prestart) no init and
// makes no network namespace ahead that no container will take. Without it
// the Runtime keeps Prestart inits and one network namespace ready until
// Close.
func (r *Runtime) Expect(n int) {
	r.inits.expect(n)
	r.netns.expect(n)
}

// Run starts the container, waits for its main process and destroys it.
func (r *Runtime) Run(ctx context.Context, s *Spec) (Result, error) {
	c, err := r.Start(ctx, s)
	if err != nil {
		return Result{}, err
	}
	res, err := c.Wait()
	return res, errors.Join(err, c.Destroy())
}

// validateSpec checks what init would otherwise fail on late.
func validateSpec(s *Spec) error {
	if !validName(s.ID) {
		return fmt.Errorf("container ID %q: want 1 to 128 of [a-zA-Z0-9_.-]", s.ID)
	}
	if len(s.Root.Lower) == 0 {
		return fmt.Errorf("container %s: the root overlay has no lower dirs", s.ID)
	}
	if (s.Root.Upper == "") != (s.Root.Work == "") {
		return fmt.Errorf("container %s: Root.Upper and Root.Work go together", s.ID)
	}
	if len(s.Process.Args) == 0 {
		return fmt.Errorf("container %s: no command (Process.Args is empty)", s.ID)
	}
	for _, m := range s.Mounts {
		if !strings.HasPrefix(m.Target, "/") {
			return fmt.Errorf("container %s: mount target %q is not absolute", s.ID, m.Target)
		}
		if m.Type == MountOverlay && (m.Overlay.Upper == "") != (m.Overlay.Work == "") {
			return fmt.Errorf("container %s: mount %s: Overlay.Upper and Overlay.Work go together", s.ID, m.Target)
		}
	}
	for name, addr := range s.Hosts {
		if name == "" || addr == "" || strings.ContainsAny(name+addr, " \t\r\n#") {
			return fmt.Errorf("container %s: hosts entry %q -> %q: want a name and an address without blanks", s.ID, name, addr)
		}
	}
	switch s.Network.Mode {
	case "", NetworkNone, NetworkHost:
	case NetworkJoin:
		if s.Network.Path == "" {
			return fmt.Errorf("container %s: network join needs Network.Path (from NewNetNS)", s.ID)
		}
	default:
		return fmt.Errorf("container %s: unknown network mode %q (want none, host or join)", s.ID, s.Network.Mode)
	}
	return nil
}
