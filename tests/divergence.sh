#!/bin/sh
# divergence.sh — a target whose log density is NaN on part of its domain
# (nan_region: theta[1] > 1.5) does not stop a run: it finishes (exit 0),
# lambda stays finite, and trace.csv shows the redrawn draws and the
# skipped steps with their halved step sizes.
. "$TOP_SRCDIR/tests/lib.sh"

printf 'target: {plugin: %s/nan_region.so}\nfamily: meanfield\noptimizer: {plugin: adam, options: {learning_rate: 0.05}}\nobjective: {grad_samples: 16}\nstop: {rule: none, max_iterations: 300, eval_every: 50}\noutput: {dir: %s/nan, draws: 500}\n' \
  "$TEST_PLUGINS" "$TMP" > "$TMP/nan.yaml"
run_vihost run "$TMP/nan.yaml" --quiet
ok $(( status != 0 )) "a run on a target that is NaN on part of its domain finishes (exit $status)"
sed 's/^/# /' "$TMP/err"
trace="$TMP/nan/trace.csv"
check "it writes trace.csv" test -s "$trace"
check "trace.csv names its redraws, skipped and step_size columns" \
  grep -q "^iter,elbo,elbo_mcse,rel_change,step_norm,seconds,grad_norm,step_size,grad_snr,redraws,skipped,phase$" "$trace"
redraws=$(awk -F, 'NR > 1 { s += $10 } END { print s + 0 }' "$trace")
skipped=$(awk -F, 'NR > 1 { s += $11 } END { print s + 0 }' "$trace")
echo "# $redraws redraws, $skipped skipped steps"
ok $(( redraws == 0 )) "trace.csv records redraws ($redraws)"
ok $(( skipped == 0 )) "trace.csv records skipped steps ($skipped)"
# Each skipped step halves the step size: the last rate is 0.05 / 2^skipped.
awk -F, -v k="$skipped" 'END { want = 0.05 / 2 ^ k; d = $8 - want; if (d < 0) d = -d; exit !(d <= 1e-6 * want) }' "$trace"
ok $? "the step size was halved at each skipped step (0.05 / 2^$skipped)"
check "no NaN reaches the summary" sh -c "! grep -qi nan '$TMP/nan/summary.csv'"
check "no NaN in the trace's ELBO column" sh -c "! cut -d, -f2 '$trace' | grep -qi nan"
check "result.json has a finite ELBO" grep -Eq '"elbo": -?[0-9]' "$TMP/nan/result.json"

done_testing
