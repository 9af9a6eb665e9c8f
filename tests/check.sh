#!/bin/sh
# check.sh — `vihost check` as a plugin writer meets it: built-in plugins
# pass; a wrong gradient, a crash in create, a leak, shared state between
# threads, an extra export and another ABI major each fail the check that
# is about them, with vihost itself exiting normally (status 3).
. "$TOP_SRCDIR/tests/lib.sh"

# row COMPONENT CHECK RESULT PATTERN: the table has that row, its detail
# matching the extended regex PATTERN.
row() {
  if grep -Eq -- "^$1 +$2 +$3 +.*$4" "$TMP/out"; then
    ok 0 "row '$1 | $2 | $3' ~ /$4/"
  else
    ok 1 "no row '$1 | $2 | $3' ~ /$4/ in:"
    sed 's/^/# /' "$TMP/out"
  fi
}

# exits WANT DESCRIPTION: the last run_vihost ended with status WANT (not a signal).
exits() {
  if [ "$status" -eq "$1" ]; then ok 0 "$2 (exit $status)"; else
    ok 1 "$2: want exit $1, got $status"
    sed 's/^/# /' "$TMP/err"
  fi
}

# Under the sanitizers (configure --enable-sanitizers) the heap has no
# statistics, so create/destroy cycles are skipped, and a segfault ends the
# child through the sanitizer's report, with exit status 1.
sanitized=0
"$VIHOST" check "$TEST_PLUGINS/leaky_target.so" 2>/dev/null | grep -q "no heap statistics" &&
  sanitized=1
# cycles N: the pass pattern of the create/destroy row.
cycles() { if [ $sanitized -eq 0 ]; then echo "pass +$1 cycles.*"; else echo "skip +.*no heap statistics"; fi; }

# ---- built-in plugins pass
run_vihost check normal --config "$EXAMPLES/normal.yaml"
exits 0 "check normal with the example's options and data passes"
row "plugin" "exports" pass "only vi_plugin_entry"
row "target normal" "configuration" pass "options and data from .*normal\\.yaml"
row "target normal" "gradient" pass "worst relative error [0-9.e-]+ at coordinate 1 \\(theta\\)"
row "target normal" "create/destroy repeated" "$(cycles 100)" ""
row "target normal" "threads" pass "4 threads x [0-9]+ calls: the same bits"
check "the summary line counts the checks" \
  grep -Eq "^13 checks: $((11 - sanitized)) passed, 0 failed, $((2 + sanitized)) skipped$" "$TMP/out"

run_vihost check normal
exits 3 "check normal without its data fails"
row "target normal" "create" FAIL "'y' is missing.*--config RUNFILE"
row "target normal" "gradient" skip "create failed"

run_vihost check meanfield
exits 0 "check meanfield passes"
for c in backward "entropy gradient" log_q_grad_z log_q_grad_lambda; do
  row "family meanfield" "$c" pass "worst relative error"
done
row "family meanfield" "entropy vs Monte Carlo" pass "entropy [0-9.]+, Monte Carlo"
row "family meanfield" "moments vs draws" pass "within [0-9.]+ standard errors"

run_vihost check adam
exits 0 "check adam passes"
row "optimizer adam" "save/load state" pass "a loaded copy steps to the same bits"
row "optimizer adam" "step" pass "distance to the maximum"

# ---- each bad plugin fails its check
run_vihost check "$TEST_PLUGINS/wrong_gradient.so"
exits 3 "a wrong gradient fails the check"
row "target wrong_gradient" "gradient" FAIL "worst relative error 0\\.[0-9]+ at coordinate 2 \\(x\\[2\\]\\)"
row "target wrong_gradient" "create" pass "dim 3"

run_vihost check "$TEST_PLUGINS/crash_create.so"
exits 3 "a crash in create is reported; vihost itself exits normally"
# (valgrind, make check-valgrind, has no heap statistics either, but lets
# the segfault end the child by its signal.)
if [ $sanitized -eq 0 ] || [ -n "${VIHOST_VALGRIND:-}" ]; then
  row "target crash_create" "create" FAIL "crashed: signal 11 \\(Segmentation fault\\) during create"
else
  row "target crash_create" "create" FAIL "exited \\(status 1\\) during create.*sanitizer"
fi
row "target crash_create" "NaN and infinity" skip "create failed"
check "... and still prints the summary" grep -Eq "^13 checks: 6 passed, 1 failed, 6 skipped$" "$TMP/out"

run_vihost check "$TEST_PLUGINS/leaky_target.so"
if [ $sanitized -eq 0 ]; then
  exits 3 "a leak in destroy fails the check"
  row "target leaky_target" "create/destroy repeated" FAIL "100 cycles kept [0-9]+ heap bytes \\(1[0-9][0-9] per create/destroy\\)"
else
  echo "ok $((tap_count += 1)) - # SKIP a leak in destroy: no heap statistics under sanitizers"
fi

run_vihost check "$TEST_PLUGINS/racy_target.so" --level 1
exits 3 "shared state in log_density fails the check"
row "target racy_target" "threads" FAIL "differs when 2 threads call it at once.*VI_FLAG_SERIAL"

run_vihost check "$TEST_PLUGINS/extra_export.so"
exits 3 "an extra export fails the check"
row "plugin" "exports" FAIL "1 symbol besides vi_plugin_entry: extra_exported_helper"

run_vihost check "$TEST_PLUGINS/abi_major2.so"
exits 3 "another ABI major fails to load"
row "plugin" "load" FAIL "built for vihost ABI 2\\.0, but this vihost speaks ABI 1\\.0"

# ---- ABI stability, as the checker sees it
run_vihost check "$TEST_PLUGINS/abi_future_minor.so"
exits 0 "a plugin of a future minor passes"
row "plugin" "ABI version" pass "built for 1\\.1.*members of the newer minor are ignored"

run_vihost check "$TEST_PLUGINS/abi_frozen.so"
exits 0 "a plugin built against the frozen 1.0 header passes, all three components"
row "target frozen_target" "gradient" pass "worst relative error"
row "family frozen_family" "entropy vs Monte Carlo" pass ""
row "optimizer frozen_sgd" "step" pass ""

# ... and fits, its target, family and optimizer together.
F="$TEST_PLUGINS/abi_frozen.so"
printf 'target: {plugin: %s}\nfamily: {plugin: %s}\noptimizer: {plugin: %s}\nobjective: {grad_samples: 8, elbo_samples: 1000}\nstop: {max_iterations: 4000, tolerance: 0.0005}\noutput: {dir: %s/frozen}\n' \
  "$F" "$F" "$F" "$TMP" > "$TMP/frozen.yaml"
run_vihost run "$TMP/frozen.yaml" --quiet
exits 0 "the frozen-1.0 target, family and optimizer fit together in this host"
check "... reporting the target's exact log evidence" \
  grep -q '"log_evidence_exact": 0' "$TMP/frozen/result.json"
u=$(sed -n 's/^u,\([^,]*\),\([^,]*\),.*/\1 \2/p' "$TMP/frozen/summary.csv")
v=$(sed -n 's/^v,\([^,]*\),\([^,]*\),.*/\1 \2/p' "$TMP/frozen/summary.csv")
echo "# u: mean sd $u (exact 0.5 1); v: $v (exact -1 0.5)"
echo "$u $v" | awk '{ exit !(($1 - 0.5)^2 < 0.1^2 && ($3 + 1)^2 < 0.05^2 &&
  ($2 - 1)^2 < 0.1^2 && ($4 - 0.5)^2 < 0.05^2) }'
ok $? "... to the exact posterior"

run_vihost check "$TEST_PLUGINS/nograd_target.so"
exits 0 "a target without a gradient passes"
row "target nograd_target" "gradient" skip "VI_FLAG_NO_GRADIENT"

# ---- options
run_vihost check "$TEST_PLUGINS/abi_frozen.so" --component frozen_family --level 1 --seed 7
exits 0 "--component checks one component"
check "... and only that one" test "$(grep -c '^target frozen_target' "$TMP/out")" -eq 0
check "... at the seed and level asked" grep -q "^seed 7, level 1$" "$TMP/out"
row "family frozen_family" "create/destroy repeated" "$(cycles 20)" ""

run_vihost check meanfield --seed 5
cp "$TMP/out" "$TMP/first"
run_vihost check meanfield --seed 5
check "the same seed gives the same table" cmp -s "$TMP/first" "$TMP/out"

expect_failure "--component that the plugin lacks" 2 "holds no component named 'nosuch'" \
  check "$TEST_PLUGINS/abi_frozen.so" --component nosuch
expect_failure "--level out of range" 2 "--level must be a whole number from 1 to 3, got '4'" \
  check meanfield --level 4
expect_failure "--seed not a number" 2 "--seed must be a whole number" check meanfield --seed x
expect_failure "a missing plugin file" 3 "cannot check $TMP/none\\.so: No such file" \
  check "$TMP/none.so"
expect_failure "check without a plugin" 2 "check needs a plugin file" check
printf 'target: {plugin: normal, sed: 1}\n' > "$TMP/bad.yaml"
expect_failure "a bad --config run file" 2 "bad\\.yaml:1:.*'sed'" \
  check normal --config "$TMP/bad.yaml"

# ---- the finite-difference gradient of `vihost run`
printf 'target: {plugin: %s/nograd_target.so}\nfamily: meanfield\noptimizer: {plugin: sgd, options: {learning_rate: 0.05, decay: 0.01}}\nobjective: {grad_samples: 8, elbo_samples: 1000}\nstop: {max_iterations: 5000, rule: relative, tolerance: 0.0005}\noutput: {dir: %s/nograd}\n' \
  "$TEST_PLUGINS" "$TMP" > "$TMP/nograd.yaml"
run_vihost run "$TMP/nograd.yaml"
exits 0 "a target without a gradient is fitted"
check "... with one warning about finite differences" \
  test "$(grep -c 'warning: .*no gradient (VI_FLAG_NO_GRADIENT): using central finite differences' "$TMP/err")" -eq 1
check "result.json says so" grep -q '"target_gradient": "finite differences"' "$TMP/nograd/result.json"
elbo=$(json_number elbo "$TMP/nograd/result.json")
mcse=$(json_number elbo_mcse "$TMP/nograd/result.json")
echo "# elbo $elbo +- $mcse (exact log Z 0)"
awk -v e="$elbo" -v m="$mcse" 'BEGIN { if (e < 0) e = -e; exit !(e != "" && e <= 3 * m + 0.01) }'
ok $? "the ELBO meets the exact log evidence 0 within 3 mcse + 0.01"
a=$(sed -n 's/^a,\([^,]*\),.*/\1/p' "$TMP/nograd/summary.csv")
b=$(sed -n 's/^b,\([^,]*\),.*/\1/p' "$TMP/nograd/summary.csv")
echo "# means a $a (exact 1), b $b (exact -2)"
awk -v a="$a" -v b="$b" 'BEGIN { da = a - 1; db = b + 2; exit !(da*da < 0.05^2 && db*db < 0.2^2) }'
ok $? "the fitted means are the exact ones"
run_vihost run "$EXAMPLES/normal.yaml" --quiet --set output.dir="$TMP/normal"
check "a target with a gradient: result.json says analytic" \
  grep -q '"target_gradient": "analytic"' "$TMP/normal/result.json"

done_testing
