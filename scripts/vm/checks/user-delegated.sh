# As an ordinary user in a delegated cgroup v2 subtree (vm_delegate_v2):
# the shell starts in its leaf and may make and limit sibling cgroups in the
# subtree, as a rootless pipe will.
[ "$(id -u)" != 0 ]
cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
echo "in $cg"
[ "${cg##*/}" = session ]
mkdir "${cg%/*}/child"
echo 10 > "${cg%/*}/child/pids.max"
[ "$(cat "${cg%/*}/child/pids.max")" = 10 ]
rmdir "${cg%/*}/child"
