# pipe itself SIGKILLed mid-run: its steps die within a second, and the next
# run removes what was left (containers' cgroups, mounts, records).
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  long:
    run: echo started; setsid sleep 4731 & sleep 4732
Y
pipe run --color never > out.txt 2>&1 &
pid=$!
# Both sleeps run (the step's echo comes before them).
i=0; until [ "$(pgrep_f 'sleep 473[12]' | wc -l)" = 2 ]; do i=$((i+1)); [ $i -lt 600 ] || { cat out.txt; exit 1; }; sleep 0.2; done
kill -KILL $pid
i=0; while pgrep_f 'sleep 473[12]'; do i=$((i+1)); [ $i -lt 30 ] || { echo "steps outlived pipe by 3 s"; exit 1; }; sleep 0.1; done
echo "steps died after $i tenths"
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  next:
    run: echo next run
Y
pipe run --color never || exit 1
[ -z "$(find /sys/fs/cgroup -mindepth 1 -type d -name '*-long-*')" ]
refute grep ' overlay ' /proc/self/mounts
