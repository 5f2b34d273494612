# A secret reaches only the step that lists it, and its value is masked in
# the log.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
secrets: [TOKEN]
steps:
  with:
    secrets: [TOKEN]
    run: |
      [ "$TOKEN" = s3cr3t-value ]
      echo "token is $TOKEN"
  without:
    run: '[ -z "${TOKEN:-}" ]'
Y
TOKEN=s3cr3t-value pipe run --color never > out.txt 2>&1 || { cat out.txt; exit 1; }
cat out.txt
grep -q '^with .*token is' out.txt
refute grep -q s3cr3t-value out.txt
refute grep -rqs s3cr3t-value "$PIPE_HOME"/runs 2>/dev/null
