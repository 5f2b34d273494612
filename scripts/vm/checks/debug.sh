# pipe debug on a terminal opens a shell in the failed step's container.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  broken:
    run: |
      echo left-behind > /tmp/clue
      exit 7
Y
set +e
ptyrun '# ' $'cat /tmp/clue; echo in-$((40+2))\n' 'in-42' $'exit\n' -- pipe debug --color never broken > out.txt 2>&1
rc=$?
set -e
cat out.txt
[ $rc = 7 ]
grep -q left-behind out.txt
