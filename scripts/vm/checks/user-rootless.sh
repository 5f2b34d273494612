# As an ordinary user in a delegated cgroup v2 subtree (vm_delegate_v2):
# pipe runs rootless, in its user namespace (0 is the user, 1.. the
# subordinate ids), and applies every limit as root does: the limits check,
# with an OOM kill reported, in the user's own store (on the disk, so that
# the io limits have a device).
[ "$(id -u)" != 0 ]
cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
echo "in $cg: $(cat "$cg/cgroup.controllers")"
export PIPE_HOME=/tmp/rootless-store-$(id -u)
pipe image import /images/busybox pipe.local/busybox:latest
mkdir ns && cat > ns/.pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  ns:
    run:
      - cat /proc/self/uid_map
      - test "$(id -u)" = 0
      - touch f && chown 1000:1000 f && test "$(stat -c %u f)" = 1000
Y
(cd ns && pipe run --color never > ../ns.txt 2>&1) || { cat ns.txt; exit 1; }
cat ns.txt
grep -qE '^ns .*0 +1000 +1$' ns.txt
grep -qE '^ns .*1 +100000 +65536$' ns.txt
. /etc/vm/checks/limits.sh
refute grep -q 'NOT applied' out.txt
