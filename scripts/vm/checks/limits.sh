# Steps with resources: memory (an OOM kill is reported as such), pids, cpu
# and io; each step sees its own limits under /sys/fs/cgroup, read-only, and
# a Go program in a step with cpus: 1.5 gets GOMAXPROCS 2.
cp "$(command -v gomaxprocs)" .
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  oom:
    resources: {memory: 64M}
    run: dd if=/dev/zero bs=1M count=256 | sort > /dev/null
  pids:
    resources: {pids: 20}
    run: |
      for i in $(seq 1 40); do sleep 30 & done
      echo all forked
  sized:
    resources: {cpus: 1.5, memory: 256M, pids: 100, io_read: 10MB/s, io_write: 5MB/s}
    run: |
      ./gomaxprocs
      ./gomaxprocs | grep -q '^GOMAXPROCS=2 '
      if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        echo "v2: cpu.max=$(cat /sys/fs/cgroup/cpu.max) memory.max=$(cat /sys/fs/cgroup/memory.max) pids.max=$(cat /sys/fs/cgroup/pids.max)"
        grep -q '^150000 100000$' /sys/fs/cgroup/cpu.max
        grep -q '^268435456$' /sys/fs/cgroup/memory.max
        grep -q '^100$' /sys/fs/cgroup/pids.max
        grep -q 'rbps=10485760 wbps=5242880' /sys/fs/cgroup/io.max
        [ "$(cat /proc/self/cgroup)" = "0::/" ]
      else
        echo "v1: quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"
        grep -q '^150000$' /sys/fs/cgroup/cpu/cpu.cfs_quota_us
        grep -q '^268435456$' /sys/fs/cgroup/memory/memory.limit_in_bytes
        grep -q '^100$' /sys/fs/cgroup/pids/pids.max
        grep -q ' 5242880$' /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device
      fi
      if mkdir /sys/fs/cgroup/escape 2>/dev/null; then echo "/sys/fs/cgroup is writable"; exit 1; fi
      dd if=/dev/zero of=/workspace/io bs=1M count=2 oflag=direct
      echo sized ok
Y
set +e
pipe run --color never --keep-going > out.txt 2>&1
rc=$?
set -e
cat out.txt
[ $rc = 1 ]
grep -E '^oom .*(OOM|out of memory|oom)' out.txt
grep -q '^sized .*sized ok' out.txt
grep -E '^sized .*ok in' out.txt
grep -E '^pids .*(fork|Resource|resource)' out.txt
refute grep -q 'all forked' out.txt
