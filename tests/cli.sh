#!/bin/sh
# cli.sh — the commands as a user meets them: --version, --help, list,
# describe, and runs of the shipped examples with their outputs.
. "$TOP_SRCDIR/tests/lib.sh"

run_vihost --version
ok $(( status != 0 )) "--version exits 0"
check "--version names the ABI" grep -q "plugin ABI 1\\.0" "$TMP/out"

run_vihost --help
ok $(( status != 0 )) "--help exits 0"
check "--help lists the commands" grep -q "describe NAME" "$TMP/out"

run_vihost list
ok $(( status != 0 )) "list exits 0"
for entry in "target normal" "target mvnormal" "target logistic" "family meanfield" \
             "family fullrank" "optimizer sgd" "optimizer adam"; do
  kind=${entry% *}
  name=${entry#* }
  check "list shows $kind $name with its version and plugin file" \
    grep -Eq "^$kind +$name +[0-9]+\\.[0-9]+\\.[0-9]+ +/.*/$name\\.so$" "$TMP/out"
done

run_vihost list --all --plugin-path "$TEST_PLUGINS"
check "list --plugin-path finds a future-minor plugin's component" \
  grep -q "future_target" "$TMP/err" "$TMP/out"
check "list warns about a refused plugin file in the path" \
  grep -q "warning: plugin refused: .*abi_major2\\.so" "$TMP/err"

run_vihost describe normal
ok $(( status != 0 )) "describe normal exits 0"
check "describe shows each option with its default" grep -Eq "^  sigma +real +default 1" "$TMP/out"
expect_failure "describe of an unknown name" 3 "no component named 'nosuch'" describe nosuch

# The conjugate normal example: the ELBO meets the exact log evidence.
run_vihost run "$EXAMPLES/normal.yaml" --quiet --set output.dir="$TMP/normal"
ok $(( status != 0 )) "run normal.yaml exits 0"
for file in summary.csv draws.csv trace.csv result.json run.yaml; do
  check "normal run wrote $file" test -s "$TMP/normal/$file"
done
elbo=$(json_number elbo "$TMP/normal/result.json")
mcse=$(json_number elbo_mcse "$TMP/normal/result.json")
exact=$(json_number log_evidence_exact "$TMP/normal/result.json")
echo "# elbo $elbo +- $mcse, exact log evidence $exact"
awk -v e="$elbo" -v m="$mcse" -v x="$exact" \
  'BEGIN { d = e - x; if (d < 0) d = -d; exit !(e != "" && x != "" && d <= 3 * m + 0.01) }'
ok $? "normal: elbo within 3*elbo_mcse + 0.01 of log_evidence_exact"
check "summary.csv has the header and one row for theta" \
  grep -q "^name,mean,sd,q05,q50,q95$" "$TMP/normal/summary.csv"
check "draws.csv has CmdStan's columns" grep -q "^lp__,log_p__,log_g__,theta$" "$TMP/normal/draws.csv"
check "trace.csv has its columns" \
  grep -q "^iter,elbo,elbo_mcse,rel_change,step_norm,seconds,grad_norm,step_size,grad_snr,redraws,skipped,phase$" "$TMP/normal/trace.csv"
rows=$(grep -cv '^#' "$TMP/normal/draws.csv")
ok $(( rows != 2002 )) "draws.csv has a header, the mean row and 2000 draws (got $rows lines)"
check "result.json says converged" grep -q '"converged": true' "$TMP/normal/result.json"
check "run.yaml has every default filled in" grep -q "elbo_samples: 500" "$TMP/normal/run.yaml"
check "run.yaml holds the target's resolved options" grep -q "s0: 10" "$TMP/normal/run.yaml"

# Same seed, same bytes; another seed, other bytes; run.yaml reproduces.
run_vihost run "$EXAMPLES/quickstart.yaml" --quiet --set output.dir="$TMP/a"
run_vihost run "$EXAMPLES/quickstart.yaml" --quiet --set output.dir="$TMP/b"
check "two runs with the same seed write identical summary.csv" cmp "$TMP/a/summary.csv" "$TMP/b/summary.csv"
check "... and identical draws.csv" cmp "$TMP/a/draws.csv" "$TMP/b/draws.csv"
run_vihost run "$EXAMPLES/quickstart.yaml" --quiet --set output.dir="$TMP/c" --set seed=2
check "another seed writes another summary.csv" test -n "$(cmp "$TMP/a/summary.csv" "$TMP/c/summary.csv" 2>&1)"
run_vihost run "$TMP/a/run.yaml" --quiet --set output.dir="$TMP/d"
ok $(( status != 0 )) "the written run.yaml runs again"
check "... and reproduces the same summary.csv" cmp "$TMP/a/summary.csv" "$TMP/d/summary.csv"

# A run over an existing folder replaces its files.
run_vihost run "$EXAMPLES/quickstart.yaml" --quiet --set output.dir="$TMP/a" --set seed=2
check "a second run into the same folder replaces the results" cmp "$TMP/a/summary.csv" "$TMP/c/summary.csv"
check "no staging folder is left beside it" test -z "$(ls -A "$TMP" | grep vihost- || true)"

# A list of families fits each into its own subfolder.
run_vihost run "$EXAMPLES/mvnormal.yaml" --quiet --set output.dir="$TMP/both" \
  --set "family=[{plugin: meanfield}, {plugin: fullrank}]" --set stop.max_iterations=400
ok $(( status != 0 )) "a list of families runs"
check "... meanfield into its subfolder" test -s "$TMP/both/meanfield/result.json"
check "... fullrank into its subfolder" test -s "$TMP/both/fullrank/result.json"

# A plugin from a future minor of ABI 1 loads and runs.
printf 'target: {plugin: %s/abi_future_minor.so}\nstop: {max_iterations: 300}\noutput: {dir: %s/future}\n' \
  "$TEST_PLUGINS" "$TMP" > "$TMP/future.yaml"
run_vihost run "$TMP/future.yaml" --quiet
ok $(( status != 0 )) "a plugin with a larger struct_size (a future minor) loads and runs"
check "... and reports its exact log evidence" grep -q '"log_evidence_exact": 0' "$TMP/future/result.json"

done_testing
