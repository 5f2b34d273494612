# Ctrl-C (SIGINT) stops a run: exit 130, no step process, no cgroup left.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  long:
    run: echo started; sleep 4721
Y
pipe run --color never > out.txt 2>&1 &
pid=$!
i=0; until grep -q started out.txt; do i=$((i+1)); [ $i -lt 600 ] || exit 1; sleep 0.2; done
kill -INT $pid
set +e
wait $pid
rc=$?
set -e
cat out.txt
[ $rc = 130 ]
refute pgrep_f 'sleep 4721'
left=$(find /sys/fs/cgroup -mindepth 2 -type d -name 'pipe-*')
[ -z "$left" ] || { echo "cgroups left: $left"; exit 1; }
