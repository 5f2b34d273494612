# Sourced before every check (sh -e): helpers for assertions.

# refute CMD... fails the check when CMD succeeds (a bare "! CMD" would not:
# sh -e ignores the status of a negated command).
refute() {
  if "$@"; then echo "check: unexpectedly true: $*"; exit 1; fi
}

# pgrep_f PATTERN prints the pids whose command line (arguments joined by
# spaces) matches the extended regular expression PATTERN, and fails when
# there is none: busybox-static has no pgrep.
pgrep_f() {
  found=1
  for d in /proc/[0-9]*; do
    [ "${d#/proc/}" = "$$" ] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null < "$d/cmdline") || continue
    case "$cmd" in *pgrep_f*) continue ;; esac
    if echo "$cmd" | grep -Eq -- "$1"; then echo "${d#/proc/} $cmd"; found=0; fi
  done
  return $found
}
