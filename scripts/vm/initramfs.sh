# Builds the test VM's initramfs: static busybox as the userland, the
# guest kernel's modules pipe needs, the prebuilt static test binaries (go
# test -c) and pipe itself, the images the checks import, and the cells.
# Sourced by scripts/test-vm; run from the repo's root.

# The modules to load, by name; their dependencies are added before them.
VM_MODULES=(virtio_pci virtio_blk overlay veth)
# The packages whose root suites may run in a cell (/src/PKG/PKG.test).
VM_TEST_PKGS=(isolation cache executor executor/job)
# Host tools the tests call, copied with their shared libraries.
VM_HOST_TOOLS=(/usr/bin/git /usr/bin/docker-registry /usr/bin/tar
  /usr/sbin/useradd /usr/sbin/userdel /usr/sbin/usermod /usr/bin/setpriv /usr/bin/newuidmap /usr/bin/newgidmap)
# Host config files those tools read.
VM_HOST_FILES=(/etc/login.defs /etc/default/useradd)

# vm_build_initramfs KDIR ROOTFS OUT
vm_build_initramfs() {
  local kdir=$1 rootfs=$2 out=$3 vmdir=scripts/vm
  rm -rf "$rootfs" && mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/vm,lib/modules,src,images,root}
  cp /bin/busybox "$rootfs/bin/busybox"
  local a
  for a in $(/bin/busybox --list-full); do
    [ -e "$rootfs/$a" ] || ln -s /bin/busybox "$rootfs/$a"
  done
  install -m 0755 "$vmdir/init" "$rootfs/init"
  cp "$vmdir/lib.sh" "$vmdir/check-lib.sh" "$rootfs/etc/vm/"
  cp -r "$vmdir/cells" "$vmdir/checks" "$rootfs/etc/vm/"
  cat > "$rootfs/etc/vm/cell" <<'EOS'
cell=$(sed -n 's/.*pipe\.cell=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -f "/etc/vm/cells/$cell" ] || vmfail "no cell '$cell'"
echo "PIPE-VM-INFO kernel $(uname -r), cell $cell"
. "/etc/vm/cells/$cell"
EOS
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  printf 'root:*:19000:0:99999:7:::\n' > "$rootfs/etc/shadow"
  printf 'root:*::\n' > "$rootfs/etc/gshadow"
  : > "$rootfs/etc/subuid"; : > "$rootfs/etc/subgid"
  chmod 0640 "$rootfs/etc/shadow" "$rootfs/etc/gshadow"
  mkdir -p "$rootfs/home" "$rootfs/etc/default"
  local f
  for f in "${VM_HOST_FILES[@]}"; do cp "$f" "$rootfs$f"; done
  vm_add_modules "$kdir" "$rootfs"
  vm_add_tests "$rootfs"
  local t
  for t in "${VM_HOST_TOOLS[@]}"; do vm_add_host_binary "$rootfs" "$t"; done
  (cd "$rootfs" && find . -print0 | cpio --null -o -H newc --quiet) > "$out"
}

# vm_add_modules KDIR ROOTFS copies VM_MODULES and what they depend on
# (decompressed: busybox insmod reads plain .ko) and writes their load order
# to /etc/vm/modules.
vm_add_modules() {
  local kdir=$1 rootfs=$2 mdir m
  mdir=$(ls -d "$kdir"/lib/modules/*/ | head -1)
  : > "$rootfs/etc/vm/modules"
  declare -A seen=()
  for m in "${VM_MODULES[@]}"; do vm_add_module "$mdir" "$rootfs" "$m"; done
}

vm_add_module() {
  local mdir=$1 rootfs=$2 name=$3 f dep deps
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  f=$(find "$mdir/kernel" -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" -o -name "$name.ko.gz" | head -1)
  if [ -z "$f" ]; then
    grep -q "/$name.ko" "$mdir/modules.builtin" 2>/dev/null && return 0
    echo "test-vm: module $name is neither in $mdir nor built in" >&2; return 1
  fi
  local plain=$rootfs/lib/modules/$name.ko
  case "$f" in
    *.xz) xz -dc "$f" > "$plain" ;;
    *.zst) zstd -qdc "$f" > "$plain" ;;
    *.gz) gzip -dc "$f" > "$plain" ;;
    *) cp "$f" "$plain" ;;
  esac
  deps=$(tr '\0' '\n' < "$plain" | sed -n 's/^depends=//p' | head -1)
  for dep in ${deps//,/ }; do vm_add_module "$mdir" "$rootfs" "$dep"; done
  echo "$name.ko" >> "$rootfs/etc/vm/modules"
}

# vm_add_tests ROOTFS builds the test binaries and pipe (static, no cgo, as
# the release binary) and the images, and copies each package's testdata.
vm_add_tests() {
  local rootfs=$1 p
  for p in "${VM_TEST_PKGS[@]}"; do
    mkdir -p "$rootfs/src/$p"
    CGO_ENABLED=0 go test -c -o "$rootfs/src/$p/$(basename "$p").test" "./$p"
    # Every testdata under the package, its subpackages' too: a test may read
    # a file a subpackage publishes (executor reads runlog's event schema).
    find "$p" -type d -name testdata -prune -print | while read -r d; do
      mkdir -p "$rootfs/src/$(dirname "$d")" && cp -r "$d" "$rootfs/src/$(dirname "$d")/"
    done
  done
  # As make build: the small container init first, then pipe embedding it.
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o cmd/pipe/pipe-init.bin ./cmd/pipe-init
  CGO_ENABLED=0 go build -trimpath -tags pipeinit -o "$rootfs/usr/local/bin/pipe" ./cmd/pipe
  # isolation's TestSmallInit takes it there, the guest having no Go toolchain.
  install -D -m 0755 cmd/pipe/pipe-init.bin "$rootfs/usr/local/lib/pipe/pipe-init"
  CGO_ENABLED=0 go build -trimpath -o "$rootfs/usr/local/bin/gomaxprocs" ./scripts/vm/gomaxprocs
  CGO_ENABLED=0 go build -trimpath -o "$rootfs/usr/local/bin/ptyrun" ./scripts/vm/ptyrun
  go run ./scripts/mkimage -kind busybox -o "$rootfs/images/busybox"
}

# vm_add_host_binary ROOTFS PATH copies a dynamically linked host tool and
# the shared libraries ldd lists for it, at their host paths.
vm_add_host_binary() {
  local rootfs=$1 bin=$2 lib
  [ -x "$bin" ] || { echo "test-vm: $bin is missing: run scripts/install-deps --tests" >&2; return 1; }
  # rm first: the path may be one of busybox's applet links.
  mkdir -p "$rootfs$(dirname "$bin")" && rm -f "$rootfs$bin"
  cp -L --preserve=mode "$bin" "$rootfs$bin"
  for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")" && rm -f "$rootfs$lib"
    cp -L "$lib" "$rootfs$lib"
  done
}
