#!/bin/sh
# bridgestan.sh — the `bridgestan` target against a stand-in model library
# (tests/plugins/fake_bridgestan.c: BridgeStan's C API for the model
#   y ~ normal(mu, sigma), mu ~ normal(0, 10), s[1], s[2] ~ exponential(1)).
# With share/data/normal.json (N = 20, sigma = 2) the posterior of mu is
# exact: precision N / sigma^2 + 1/100, mean sum(y) / sigma^2 / precision.
. "$TOP_SRCDIR/tests/lib.sh"

FAKE="$TOP_BUILDDIR/tests/plugins/.libs/fake_bridgestan.so"

stan_run() {
  cat > "$TMP/stan.yaml" <<EOF
seed: 3
target:
  plugin: bridgestan
  data: $DATA/normal.json
  options: {model: $FAKE$1}
family: meanfield
optimizer: {plugin: sgd, options: {learning_rate: 0.05, decay: 0.01}}
objective: {grad_samples: 8, elbo_samples: 1000}
stop: {max_iterations: 5000, tolerance: 0.0005}
output: {dir: $TMP/stan, draws: 4000}
EOF
}

stan_run ""
run_vihost run "$TMP/stan.yaml" --quiet
ok $(( status != 0 )) "a Stan model through bridgestan fits (exit $status)"
check "summary.csv names the constrained parameters the Stan way" \
  grep -q "^s\\[2\\]," "$TMP/stan/summary.csv"
check "draws.csv has mu, s[1], s[2] (in CmdStan's spelling or ours)" \
  grep -Eq "^lp__,log_p__,log_g__,mu,s(\\[1\\]|\\.1),s(\\[2\\]|\\.2)$" "$TMP/stan/draws.csv"

# The exact posterior of mu from the data file.
exact=$(tr -d ' \n' < "$DATA/normal.json" | sed 's/.*"y":\[\([^]]*\)\].*/\1/' | tr ',' '\n' |
  awk '{ s += $1; n++ } END { p = n / 4 + 0.01; printf "%.10g %.10g", s / 4 / p, sqrt(1 / p) }')
mean=$(sed -n 's/^mu,\([^,]*\),\([^,]*\),.*/\1 \2/p' "$TMP/stan/summary.csv")
echo "# mu: exact mean and sd $exact; fitted $mean"
echo "$exact $mean" | awk '{ d = $3 - $1; if (d < 0) d = -d; r = $4 / $2;
  exit !(d < 0.03 && r > 0.9 && r < 1.1) }'
ok $? "the fitted mean and sd of mu are the exact posterior's (within 0.03 and 10%)"
s1=$(sed -n 's/^s\[1\],\([^,]*\),.*/\1/p' "$TMP/stan/summary.csv")
echo "# s[1] mean $s1 (exact 1 under exponential(1); the fit is a Gaussian in log s)"
awk -v s="$s1" 'BEGIN { exit !(s > 0.5 && s < 1.5) }'
ok $? "s[1] is constrained to be positive and near its exponential(1) mean"

run_vihost check bridgestan --config "$TMP/stan.yaml"
ok $(( status != 0 )) "vihost check passes the bridgestan target (exit $status)"
check "... its gradient against finite differences" \
  grep -Eq "^target bridgestan +gradient +pass +worst relative error" "$TMP/out"
check "... and skips the threads check: BridgeStan libraries are serial" \
  grep -Eq "^target bridgestan +threads +skip +VI_FLAG_SERIAL" "$TMP/out"
check "... with the data file handed over by its path" \
  grep -Eq "^target bridgestan +configuration +pass +options and data from" "$TMP/out"

stan_run ", propto: true"
run_vihost run "$TMP/stan.yaml" --quiet --set output.dir="$TMP/propto"
ok $(( status != 0 )) "propto: true runs too (exit $status)"
mean2=$(sed -n 's/^mu,\([^,]*\),.*/\1/p' "$TMP/propto/summary.csv")
echo "$exact $mean2" | awk '{ d = $3 - $1; if (d < 0) d = -d; exit !(d < 0.03) }'
ok $? "... to the same posterior of mu ($mean2)"

# ---- errors, each one line naming the cause
stan_run ""
expect_failure "a model library that does not exist" 3 \
  "refused its configuration: option 'model': cannot load '$TMP/nowhere\\.so'" \
  run "$TMP/stan.yaml" --set "target.options.model=$TMP/nowhere.so"
expect_failure "a library that is not a BridgeStan model" 3 \
  "is not a BridgeStan model library: it has no bs_model_construct" \
  run "$TMP/stan.yaml" --set "target.options.model=$TOP_BUILDDIR/tests/plugins/.libs/extra_export.so"
printf '{"N": 2, "x": [1, 2]}\n' > "$TMP/noy.json"
expect_failure "data the model refuses: Stan's message on one line" 3 \
  "the Stan model refused its data: Error in 'fake_normal' model: variable does not exist; processing stage=data initialization; variable name=y; base type=double \\(status" \
  run "$TMP/stan.yaml" --set "target.data=$TMP/noy.json"
expect_failure "no model option" 2 "needs option 'model'" \
  run "$TMP/stan.yaml" --set "target.options={}"

done_testing
