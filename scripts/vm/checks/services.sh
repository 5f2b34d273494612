# A step talks to a service over the step's own loopback; the service is
# ready before the step starts.
cat > .pipe.yml <<'Y'
version: 1
image: pipe.local/busybox:latest
services:
  web:
    image: pipe.local/busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]
    ready:
      run: wget -q -O /dev/null http://127.0.0.1:8080/
      interval: 200ms
      retries: 300
steps:
  use:
    services: [web]
    run: wget -q -O - http://127.0.0.1:8080/ | grep served
Y
pipe run --color never > out.txt 2>&1 || { cat out.txt; exit 1; }
cat out.txt
grep -q '^use .*served' out.txt
