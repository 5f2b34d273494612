# Guest-side helpers for the cells (sourced by scripts/vm/init in the VM).
# A cell calls a cgroup setup, then any number of vm_test and vm_check.

# vm_cgroup_v2 gives the machine a pure cgroup v2 hierarchy with every
# controller pipe limits enabled for the children of the root.
vm_cgroup_v2() {
  mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || vmfail "mount cgroup2"
  echo "+cpu +memory +pids +io +cpuset" > /sys/fs/cgroup/cgroup.subtree_control || vmfail "enable v2 controllers"
  echo "PIPE-VM-INFO cgroup v2: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
}

# vm_cgroup_v1 mounts one v1 hierarchy per controller, as a systemd machine
# booted with systemd.unified_cgroup_hierarchy=0 has (no unified mount).
vm_cgroup_v1() {
  mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup || vmfail "mount cgroup tmpfs"
  for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
    mkdir -p /sys/fs/cgroup/$c
    mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || vmfail "mount cgroup v1 $c"
  done
  echo "PIPE-VM-INFO cgroup v1: $(ls /sys/fs/cgroup | tr '\n' ' ')"
}

# vm_result prints the marker the harness reads.
vm_result() { echo "PIPE-VM-RESULT $1 $2 $3"; }

# vm_test NAME PKG [ARGS...] runs the prebuilt test binary of package PKG
# (/src/PKG/PKG.test, built by go test -c) in its package dir, as root with
# PIPE_TEST_ROOT=1, bounded by VM_TEST_TIMEOUT (seconds, default 900: a suite
# takes 30-120 s here on an idle machine).
#
# A suite that hangs (Go's test timeout: its goroutines are printed above)
# or meets an init the kernel did not reap after SIGKILL (isolation says
# "was not reaped", with the task's state and kernel stack) is run once more
# and that is said in a PIPE-VM-INFO line; a second time, and any other
# failure, fails the cell. Known: in the cgroup-v1 cell, Destroy waited for
# ever for such an init in 2 of ~8 runs while the host was loaded (before
# isolation bounded that wait); not yet understood.
vm_test() {
  name=$1 pkg=$2; shift 2
  echo "PIPE-VM-START $name"
  start=$(date +%s)
  vm_test_once "$pkg" "$@"
  rc=$?
  if [ "$rc" != 0 ] && grep -q -e '^panic: test timed out' -e 'was not reaped .* after SIGKILL' /tmp/vm-test.out; then
    echo "PIPE-VM-INFO $name HUNG (goroutines or the unreaped init's kernel stack above); running it once more, a second hang fails the cell"
    vm_clean_test_cgroups
    vm_test_once "$pkg" "$@"
    rc=$?
  fi
  [ "$rc" = 0 ] || vm_clean_test_cgroups
  vm_result "$name" "$rc" "$(( $(date +%s) - start ))"
}

# vm_clean_test_cgroups removes what a test binary killed by its timeout
# leaves (it cannot run its cleanups): the suites' own cgroups, pipe-test-*,
# which the checks after it would otherwise count as left by pipe. Frozen v1
# cgroups are thawed first, or their tasks could not die.
vm_clean_test_cgroups() {
  dirs=$(find /sys/fs/cgroup -depth -type d -path '*/pipe-test-*' 2>/dev/null)
  [ -n "$dirs" ] || return 0
  for d in $dirs; do
    [ -f "$d/freezer.state" ] && echo THAWED > "$d/freezer.state" 2>/dev/null
    [ -f "$d/cgroup.kill" ] && echo 1 > "$d/cgroup.kill" 2>/dev/null
    for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  sleep 2
  for d in $dirs; do rmdir "$d" 2>/dev/null; done
  left=$(find /sys/fs/cgroup -type d -path '*/pipe-test-*' 2>/dev/null | tr '\n' ' ')
  echo "PIPE-VM-INFO removed the cgroups a killed test binary left${left:+; still there: $left}"
}

# vm_test_once PKG [ARGS...] runs the test binary once, its output also in
# /tmp/vm-test.out; it returns the binary's exit code.
vm_test_once() {
  pkg=$1; shift
  t=${VM_TEST_TIMEOUT:-900}
  ( (cd "/src/$pkg" && PIPE_TEST_ROOT=1 PIPE_TEST_INIT_BIN=/usr/local/lib/pipe/pipe-init HOME=/root TMPDIR=/tmp \
    timeout -s KILL $((t + 60)) "./$(basename "$pkg").test" -test.timeout="${t}s" "$@" 2>&1)
    echo $? > /tmp/vm-test.rc ) | tee /tmp/vm-test.out
  return "$(cat /tmp/vm-test.rc)"
}

# vm_check NAME SCRIPT runs one shell check (scripts/vm/checks/SCRIPT in the
# repo, /etc/vm/checks/SCRIPT here) in a fresh dir with sh -e; it passes
# when it exits 0. Checks find pipe on PATH, the busybox image imported as
# pipe.local/busybox:latest and PIPE_HOME on the store disk.
vm_check() {
  name=$1 script=$2
  echo "PIPE-VM-START $name"
  start=$(date +%s)
  dir=/tmp/check-$name
  mkdir -p "$dir"
  (cd "$dir" && HOME=/root TMPDIR=/tmp PIPE_HOME=/disk/pipe \
    timeout -s KILL "${VM_CHECK_TIMEOUT:-300}" sh -ec ". /etc/vm/check-lib.sh; . /etc/vm/checks/$script" 2>&1)
  rc=$?
  vm_result "$name" "$rc" "$(( $(date +%s) - start ))"
}

# vm_import_images imports the images the checks use into the store.
vm_import_images() {
  PIPE_HOME=/disk/pipe pipe image import /images/busybox pipe.local/busybox:latest >/dev/null || vmfail "pipe image import"
}

# vm_add_user NAME UID adds a user (group of the same id) with a home and
# 65536 subordinate ids, for rootless runs.
vm_add_user() {
  echo "$1:x:$2:$2:$1:/home/$1:/bin/sh" >> /etc/passwd
  echo "$1:x:$2:" >> /etc/group
  echo "$1:100000:65536" >> /etc/subuid
  echo "$1:100000:65536" >> /etc/subgid
  mkdir -p "/home/$1" && chown "$2:$2" "/home/$1"
}

# vm_delegate_v2 DIR UID makes DIR a cgroup v2 subtree delegated to UID, as
# systemd delegates user@UID.service: DIR and its delegation files are the
# user's, its controllers enabled for its children, and the user's shells
# (vm_as) start in the leaf DIR/session (v2 allows no process in a cgroup
# that gives its children controllers).
vm_delegate_v2() {
  mkdir -p "$1/session" || vmfail "mkdir $1/session"
  echo "+cpu +memory +pids +io" > "$1/cgroup.subtree_control" || vmfail "enable controllers in $1"
  for d in "$1" "$1/session"; do
    chown "$2" "$d" "$d/cgroup.procs" "$d/cgroup.subtree_control" "$d/cgroup.threads" || vmfail "delegate $d"
  done
  VM_DELEGATED=$1/session
}

# vm_as USER CMD... runs CMD as USER (util-linux setpriv, not busybox's
# applet, with the user's groups),
# first moving itself into the delegated cgroup (vm_delegate_v2) if any.
vm_as() {
  user=$1; shift
  set -- "${VM_DELEGATED:-}" "$(id -u "$user")" "$(id -g "$user")" "$@"
  sh -c 'cg=$1 uid=$2 gid=$3; shift 3
    if [ -n "$cg" ]; then echo $$ > "$cg/cgroup.procs" || exit 1; fi
    exec /usr/bin/setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"' vm_as "$@"
}

# vm_test_as USER NAME PKG [ARGS...] is vm_test as USER.
vm_test_as() {
  user=$1 name=$2 pkg=$3; shift 3
  echo "PIPE-VM-START $name"
  start=$(date +%s)
  (cd "/src/$pkg" && vm_as "$user" env PIPE_TEST_ROOT=1 ${VM_TEST_ENV:-} HOME="/home/$user" TMPDIR=/tmp \
    timeout -s KILL "${VM_TEST_TIMEOUT:-900}" "./$(basename "$pkg").test" -test.timeout="${VM_TEST_TIMEOUT:-900}s" "$@" 2>&1)
  vm_result "$name" "$?" "$(( $(date +%s) - start ))"
}

# vm_check_as USER NAME SCRIPT is vm_check as USER (PIPE_HOME in its home).
vm_check_as() {
  user=$1 name=$2 script=$3
  echo "PIPE-VM-START $name"
  start=$(date +%s)
  dir=/tmp/check-$name
  mkdir -p "$dir" && chown "$user" "$dir"
  (cd "$dir" && vm_as "$user" env HOME="/home/$user" TMPDIR=/tmp PIPE_HOME="/home/$user/.pipe" \
    timeout -s KILL "${VM_CHECK_TIMEOUT:-300}" sh -ec ". /etc/vm/check-lib.sh; . /etc/vm/checks/$script" 2>&1)
  vm_result "$name" "$?" "$(( $(date +%s) - start ))"
}

# vm_checks_all runs every check as root, except the user-*.sh ones (which
# are for vm_check_as).
vm_checks_all() {
  for c in $(ls /etc/vm/checks); do
    case "$c" in user-*) continue ;; esac
    vm_check "${c%.sh}" "$c"
  done
}
