# Outputs flow along the DAG's edges only; a second run is all cache hits.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  make:
    run: mkdir -p out && echo built > out/artifact
    outputs: [out/artifact]
  use:
    needs: [make]
    run: grep -q built out/artifact && echo got artifact
  other:
    run: '[ ! -e out/artifact ]'
Y
pipe run --color never > out.txt 2>&1 || { cat out.txt; exit 1; }
cat out.txt
grep -q '^use .*got artifact' out.txt
pipe run --json > second.json 2>&1 || { cat second.json; exit 1; }
grep '"type":"step_finished"' second.json
[ "$(grep '"type":"step_finished"' second.json | grep -c '"status":"cached"')" = 3 ]
