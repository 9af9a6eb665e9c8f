# lib.sh — TAP helpers for the shell tests.  Source it; it expects VIHOST,
# TOP_SRCDIR and TOP_BUILDDIR from the test environment (Makefile.am).
set -u

: "${VIHOST:?run through make check}" "${TOP_SRCDIR:?}" "${TOP_BUILDDIR:?}"
tap_count=0
tap_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vihost-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
TEST_PLUGINS="$TOP_BUILDDIR/tests/plugins/.libs"
EXAMPLES="$TOP_SRCDIR/share/examples"
DATA="$TOP_SRCDIR/share/data"

# ok STATUS DESCRIPTION: one TAP line; STATUS 0 passes.
ok() {
  tap_count=$((tap_count + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $tap_count - $2"
  else
    echo "not ok $tap_count - $2"
    tap_failed=$((tap_failed + 1))
  fi
}

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  desc=$1
  shift
  if "$@" >/dev/null 2>&1; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

# run_vihost ARGS...: runs vihost, keeping stdout, stderr and the status in
# $TMP/out, $TMP/err and $status.
run_vihost() {
  status=0
  "$VIHOST" "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
}

# expect_failure DESCRIPTION STATUS PATTERN ARGS...: vihost ARGS exits with
# STATUS and prints one stderr line matching the extended regex PATTERN.
expect_failure() {
  desc=$1 want=$2 pattern=$3
  shift 3
  run_vihost "$@"
  if [ "$status" -eq "$want" ] && grep -Eq -- "$pattern" "$TMP/err" &&
     [ "$(wc -l < "$TMP/err")" -eq 1 ]; then
    ok 0 "$desc (exit $status)"
  else
    ok 1 "$desc: want exit $want and /$pattern/, got exit $status:"
    sed 's/^/# /' "$TMP/err"
  fi
}

# json_number KEY FILE: the number at top-level KEY of a result.json.
json_number() {
  sed -n "s/^  \"$1\": \(-\{0,1\}[0-9][-+0-9.eE]*\),\{0,1\}$/\1/p" "$2"
}

# A run file in $TMP from standard input; prints its path.
runfile() {
  cat > "$TMP/$1"
  echo "$TMP/$1"
}

done_testing() {
  echo "1..$tap_count"
  [ "$tap_failed" -eq 0 ]
}
