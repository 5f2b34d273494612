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
# A terminal's Enter is a carriage return (sh -e has no $'...' quoting).
ptyrun '# ' "$(printf 'cat /tmp/clue; echo in-$((40+2))\r')" 'in-42' "$(printf 'exit\r')" -- pipe debug --color never broken > ../debug-out.txt 2>&1
rc=$?
set -e
cat ../debug-out.txt
[ $rc = 7 ]
grep -q left-behind ../debug-out.txt
