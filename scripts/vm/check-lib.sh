# Sourced before every check (sh -e): helpers for assertions.

# refute CMD... fails the check when CMD succeeds (a bare "! CMD" would not:
# sh -e ignores the status of a negated command).
refute() {
  if "$@"; then echo "check: unexpectedly true: $*"; exit 1; fi
}
