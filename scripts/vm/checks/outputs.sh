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
# The logs go outside the workspace: a changed workspace is no cache hit.
pipe run --color never > ../outputs-1.txt 2>&1 || { cat ../outputs-1.txt; exit 1; }
cat ../outputs-1.txt
grep -q '^use .*got artifact' ../outputs-1.txt
pipe run --json > ../outputs-2.json 2>&1 || { cat ../outputs-2.json; exit 1; }
grep '"type":"step_finished"' ../outputs-2.json
[ "$(grep '"type":"step_finished"' ../outputs-2.json | grep -c '"status":"cached"')" = 3 ]
