package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// setIODeviceOf makes the I/O limits apply to the block device that holds
// path (the store), as found by blockDeviceOf.
func (m *cgroupManager) setIODeviceOf(path string) error {
	dev, err := blockDeviceOf(path, "/sys")
	if err != nil {
		return err
	}
	return m.setIODevice(dev)
}

// blockDeviceOf returns "major:minor" of the whole disk that holds path:
// st_dev of path, mapped from a partition to its disk through
// sysfs/dev/block/MAJ:MIN/../dev (the
// symlink resolved), because the blkio and io throttles only
// take whole disks. Filesystems without a block device (tmpfs, overlay,
// btrfs subvolumes with anonymous devices) are an error: no I/O limits there.
func blockDeviceOf(path, sysfs string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: path, Err: err}
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	return wholeDisk(dev, sysfs, path)
}

// wholeDisk maps a partition's "major:minor" to its disk's, through sysfs.
func wholeDisk(dev, sysfs, path string) (string, error) {
	link := filepath.Join(sysfs, "dev", "block", dev)
	if _, err := os.Stat(link); err != nil {
		return "", fmt.Errorf("%s is on device %s, which is not a block device (tmpfs, overlay?): "+
			"I/O limits cannot apply to it: %w", path, dev, err)
	}
	if _, err := os.Stat(filepath.Join(link, "partition")); errors.Is(err, os.ErrNotExist) {
		return dev, nil
	}
	// The link points at .../block/sda/sda1; the disk is its parent dir.
	// (filepath.Join would clean "link/.." lexically, hence EvalSymlinks.)
	real, err := filepath.EvalSymlinks(link)
	if err != nil {
		return "", fmt.Errorf("find the disk of partition %s (holding %s): %w", dev, path, err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(real), "dev"))
	if err != nil {
		return "", fmt.Errorf("find the disk of partition %s (holding %s): %w", dev, path, err)
	}
	disk := strings.TrimSpace(string(b))
	if _, _, err := parseMajorMinor(disk); err != nil {
		return "", fmt.Errorf("find the disk of partition %s (holding %s): %w", dev, path, err)
	}
	return disk, nil
}
