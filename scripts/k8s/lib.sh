# shellcheck shell=bash
# Shared by scripts/k8s/up and scripts/k8s/down: the cluster's fixed
# addresses, DIR's layout and the process helpers. Sourced, not run.
#
# One test cluster per machine: the pod bridge, its address (the registry's)
# and the component ports are fixed, and /run/pipe-k8s-owner names the DIR
# that holds them while it is up.

K8S_VERSION=${PIPE_K8S_VERSION:-v1.37.2}
K8S_BIN=${PIPE_K8S_BIN:-${PIPE_K8S_CACHE:-/var/cache/pipe-k8s}/$K8S_VERSION/bin}
BRIDGE=pipek0
BRIDGE_ADDR=10.244.0.1
POD_CIDR=10.244.0.0/24
REGISTRY=$BRIDGE_ADDR:5000
OWNER_FILE=/run/pipe-k8s-owner
CNI_BIN=/usr/lib/cni
# TCP ports the components listen on (all on 127.0.0.1): etcd client and
# peer, apiserver, kubelet and its healthz, controller-manager, scheduler.
PORTS=(2379 2380 6443 10250 10248 10257 10259)
# The sysctls the kubelet sets when they differ (protectKernelDefaults off),
# and the forwarding switches the design promises never to touch.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv6.conf.all.forwarding)
# Host paths that the kubelet (its log links, its device-plugin socket: both
# fixed paths), libcni (its result cache) and containerd (shim sockets)
# create when absent.
HOST_PATHS="/var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd /var/run/netns"
# Components in start order; down stops them in reverse (the apiserver
# before etcd: with etcd gone it ignores SIGTERM for a long time).
COMPONENTS=(registry containerd etcd kube-apiserver kube-scheduler kube-controller-manager kubelet)

# layout DIR: sets the paths inside DIR.
layout() {
  DIR=$1
  PKI=$DIR/pki
  LOGS=$DIR/logs
  PIDS=$DIR/pids
  HOST=$DIR/host
  CTRD=$DIR/containerd
  SOCK=$CTRD/containerd.sock
}

# alive NAME: the process recorded for NAME runs (same PID and start time;
# launch records no start time for one that exited at once).
alive() {
  local f=$PIDS/$1.pid pid start
  [ -f "$f" ] || return 1
  read -r pid start < "$f" || return 1
  [ -n "$pid" ] && [ -n "${start:-}" ] && [ "$(starttime "$pid")" = "$start" ]
}

# starttime PID: the process's start time in clock ticks (field 22 of
# stat); nothing when it has exited (a zombie counts as exited).
starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }
  [ "${s%% *}" = Z ] && return 0
  # After "pid (comm) " the fields start at 3 (state): 22 is the 20th.
  set -- $s
  echo "${20}"
}

# launch NAME CMD...: starts CMD in its own session, output to logs/NAME.log,
# and records its PID and start time.
launch() {
  local name=$1; shift
  setsid "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid $(starttime "$pid")" > "$PIDS/$name.pid"
}

# stop NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 20).
stop() {
  local name=$1 wait=${2:-20} pid start i
  alive "$name" || { rm -f "$PIDS/$name.pid"; return 0; }
  read -r pid start < "$PIDS/$name.pid"
  kill -TERM "$pid" 2>/dev/null || true
  local end=$((SECONDS + wait))
  while alive "$name" && [ $SECONDS -lt $end ]; do sleep 0.1; done
  if alive "$name"; then
    echo "scripts/k8s: $name (pid $pid) ignored SIGTERM for ${wait}s: SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    end=$((SECONDS + 10))
    while alive "$name" && [ $SECONDS -lt $end ]; do sleep 0.1; done
  fi
  rm -f "$PIDS/$name.pid"
}

# owner: the DIR of the cluster that is up on this machine, if any.
owner() { cat "$OWNER_FILE" 2>/dev/null || true; }

# ipts: the iptables front ends of both families that exist here.
ipts() {
  local i
  for i in iptables ip6tables; do command -v "$i" > /dev/null && echo "$i"; done
  return 0
}

# kube_chains IPT TABLE: the KUBE-* chains of one table.
kube_chains() { { "$1" -w 5 -t "$2" -S 2>/dev/null || true; } | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'; }

# cgroup_roots: every mounted cgroup hierarchy (v1 controllers, named and v2).
cgroup_roots() { awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts; }

# sysctl_path NAME: the /proc/sys file of a sysctl (no procps needed).
sysctl_path() { echo "/proc/sys/${1//.//}"; }

# procs_with STRING: PIDs whose command line contains STRING (within one
# argument).
procs_with() {
  grep -lsF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3
  return 0
}
