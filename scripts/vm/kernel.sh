# Fetches the guest kernel: Debian 12's linux-image-cloud-amd64 (6.1.x), as
# a .deb from Debian's mirror unpacked with dpkg-deb -x (never installed as
# the host's kernel). Sourced by scripts/test-vm.

# vm_fetch_kernel CACHE prints a dir with vmlinuz and lib/modules/VERSION.
# An already unpacked kernel in CACHE is used when apt cannot answer
# (offline), so CI needs the mirror only once.
vm_fetch_kernel() {
  local cache=$1 pkg dir deb
  mkdir -p "$cache"
  pkg=$(vm_kernel_package) || pkg=
  if [ -z "$pkg" ]; then
    dir=$(ls -d "$cache"/linux-image-*/ 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] || { echo "test-vm: cannot resolve linux-image-cloud-amd64 with apt and no kernel in $cache" >&2; return 1; }
    echo "${dir%/}"; return 0
  fi
  dir=$cache/$pkg
  if [ ! -f "$dir/vmlinuz" ]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    (cd "$dir.tmp" && apt-get download -q "$pkg" >&2 2>/dev/null) \
      || { echo "test-vm: apt-get download $pkg failed" >&2; return 1; }
    deb=$(ls "$dir.tmp"/*.deb)
    dpkg-deb -x "$deb" "$dir.tmp/x"
    mv "$dir.tmp"/x/boot/vmlinuz-* "$dir.tmp/vmlinuz"
    mkdir -p "$dir.tmp/lib"
    mv "$dir.tmp"/x/lib/modules "$dir.tmp/lib/modules"
    rm -rf "$dir.tmp/x" "$deb"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# vm_kernel_package prints the versioned package linux-image-cloud-amd64
# depends on (linux-image-6.1.0-NN-cloud-amd64).
vm_kernel_package() {
  local p
  p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  if [ -z "$p" ]; then
    apt-get update -q >/dev/null 2>&1 || return 1
    p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  fi
  [ -n "$p" ] && echo "$p"
}
