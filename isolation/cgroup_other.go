//go:build !linux

package isolation

import "fmt"

var errCgroupsNeedLinux = fmt.Errorf("cgroups: %w", ErrUnsupported)

func newCgroupManager(parent string) (*cgroupManager, error) { return nil, errCgroupsNeedLinux }

func newCgroupManagerWith(cfg cgroupConfig) (*cgroupManager, error) {
	return nil, errCgroupsNeedLinux
}

func (m *cgroupManager) create(id string, l Limits) (*cgroup, error) { return nil, errCgroupsNeedLinux }

func (m *cgroupManager) cleanup(isLive func(id string) bool) error { return errCgroupsNeedLinux }

func (m *cgroupManager) setIODeviceOf(path string) error { return errCgroupsNeedLinux }

func (c *cgroup) fd() (int, bool) { return -1, false }

func (c *cgroup) addProc(pid int) error { return errCgroupsNeedLinux }

func (c *cgroup) kill() error { return errCgroupsNeedLinux }

func (c *cgroup) stats() (cgroupStats, error) { return cgroupStats{}, errCgroupsNeedLinux }

func (c *cgroup) destroy() error { return nil }
