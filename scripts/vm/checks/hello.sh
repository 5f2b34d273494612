# A one-step pipeline runs and prints.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
steps:
  hello:
    run: echo "hello from $(uname -r)"
Y
pipe run --color never > out.txt 2>&1 || { cat out.txt; exit 1; }
cat out.txt
grep -q 'hello from' out.txt
