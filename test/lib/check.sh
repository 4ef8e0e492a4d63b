# Shared checks for the shell tests under test/cli (sourced, not run).
# The caller sets SLICER (the binary) and T (a scratch folder), and ends with
#   summary; exit $?
# Each check prints "ok   - WHAT" or "FAIL - WHAT" with what was expected and
# what the last command gave.
fails=0 checks=0 out= err= rc=

ok()   { checks=$((checks + 1)); echo "ok   - $1"; }
fail() { # fail WHAT EXPECTED
    checks=$((checks + 1)); fails=$((fails + 1))
    echo "FAIL - $1"
    echo "       expected: $2"
    echo "       got: exit $rc"
    [[ -n "$out" ]] && sed 's/^/       stdout| /' <<<"$out" | head -40
    [[ -n "$err" ]] && sed 's/^/       stderr| /' <<<"$err" | head -20
    return 0
}
# slicer ARGS...: runs the binary, keeps stdout, stderr and the exit code
slicer() { out=$("$SLICER" "$@" 2>"$T/stderr"); rc=$?; err=$(<"$T/stderr"); }
expect_rc()  { [[ "$rc" == "$2" ]] && ok "$1" || fail "$1" "exit $2"; }
expect_out() { grep -qE -- "$2" <<<"$out" && ok "$1" || fail "$1" "stdout matching /$2/"; }
expect_err() { grep -qE -- "$2" <<<"$err" && ok "$1" || fail "$1" "stderr matching /$2/"; }
expect_no()  { ! grep -qE -- "$2" <<<"$out" && ok "$1" || fail "$1" "no stdout line matching /$2/"; }
expect_count() { # expect_count WHAT REGEX N: N matches of REGEX in stdout
    local n; n=$(grep -oE -- "$2" <<<"$out" | wc -l)
    [[ "$n" == "$3" ]] && ok "$1" || fail "$1" "$3 matches of /$2/ in stdout, not $n"
}
summary() { echo "$((checks - fails)) passed, $fails failed"; [[ $fails -eq 0 ]]; }
