# A step over its timeout is killed with everything it started.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  slow:
    timeout: 3s
    run: setsid sleep 4711 & sleep 4712
Y
set +e
pipe run --color never > out.txt 2>&1
rc=$?
set -e
cat out.txt
[ $rc = 1 ]
grep -Ei '^slow .*time' out.txt
refute pgrep_f 'sleep 471[12]'
