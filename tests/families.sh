#!/bin/sh
# families.sh — the families as a user meets them: every family's example
# runs from a fresh build and lands where share/doc/families.md says, the
# finite target's result.json carries log_evidence_exact and kl_exact, and
# the gradient choices that cannot work are refused with one line.
. "$TOP_SRCDIR/tests/lib.sh"

# within NAME FILE WANT TOL: |result.json's NAME - WANT| <= TOL.
within() {
  got=$(json_number "$1" "$2")
  awk -v g="$got" -v w="$3" -v t="$4" \
    'BEGIN { d = g - w; if (d < 0) d = -d; exit !(g != "" && d <= t) }'
}

run_vihost list
for name in lowrank chain studentt mixture flow categorical; do
  check "list shows family $name" grep -Eq "^family +$name " "$TMP/out"
done
for name in banana gmm categorical_target; do
  check "list shows target $name" grep -Eq "^target +$name " "$TMP/out"
done

# Each example: exit 0, and its ELBO where families.md says it lands.
# name  elbo  tolerance (the exact log evidence is 0 but for the die's log 6)
while read -r name want tol; do
  run_vihost run "$EXAMPLES/$name.yaml" --quiet --set output.dir="$TMP/$name"
  ok $(( status != 0 )) "run $name.yaml exits 0"
  within elbo "$TMP/$name/result.json" "$want" "$tol"
  ok $? "$name.yaml: ELBO $(json_number elbo "$TMP/$name/result.json") within $tol of $want"
done <<'EOF'
lowrank 0 0.01
chain 0 0.005
mixture 0 0.005
flow -0.012 0.03
studentt -0.17 0.03
categorical 1.791759 1e-6
EOF

# The die: the exact answers in result.json.
within log_evidence_exact "$TMP/categorical/result.json" 1.7917594692 1e-9
ok $? "categorical: log_evidence_exact is log 6"
within kl_exact "$TMP/categorical/result.json" 0 1e-3
ok $? "categorical: kl_exact $(json_number kl_exact "$TMP/categorical/result.json") < 1e-3"
check "categorical: summary.csv reports the die's value, mean 3.5" \
  grep -Eq "^value,3\\.[45][0-9]*," "$TMP/categorical/summary.csv"
run_vihost run "$EXAMPLES/categorical.yaml" --quiet --set output.dir="$TMP/die-start" \
  --set stop.max_iterations=1 --set optimizer.options.learning_rate=1e-300
within kl_exact "$TMP/die-start/result.json" 0.293893 5e-7
ok $? "categorical: kl_exact at the start is 0.293893"

# Comparisons the examples' comments suggest.
run_vihost run "$EXAMPLES/flow.yaml" --quiet --set family=fullrank --set output.dir="$TMP/banana-full"
awk -v f="$(json_number elbo "$TMP/flow/result.json")" \
  -v g="$(json_number elbo "$TMP/banana-full/result.json")" 'BEGIN { exit !(f > g + 0.1) }'
ok $? "banana: flow's ELBO beats fullrank's by more than 0.1"
run_vihost run "$EXAMPLES/lowrank.yaml" --quiet --set family.options.rank=1 \
  --set output.dir="$TMP/rank1"
awk -v e="$(json_number elbo "$TMP/rank1/result.json")" 'BEGIN { exit !(e < -0.5) }'
ok $? "lowrank rank 1 falls short of log Z on mvnormal"

# Refusals: one line each, the right status, and what to do.
expect_failure "score with one draw" 2 \
  "grad_samples' must be >= 2 with gradient 'score'" \
  run "$EXAMPLES/categorical.yaml" --set objective.grad_samples=1 --set output.dir="$TMP/x1"
expect_failure "categorical with the reparam gradient" 2 \
  "no reparameterization gradient exists; set objective.gradient: score" \
  run "$EXAMPLES/categorical.yaml" --set objective.gradient=reparam --set output.dir="$TMP/x2"
expect_failure "a Gaussian on a finite target" 2 \
  "choose a family over a finite set \\(categorical\\)" \
  run "$EXAMPLES/categorical.yaml" --set family=meanfield --set output.dir="$TMP/x3"
expect_failure "an unknown gradient" 2 "'objective.gradient' must be 'reparam', 'stl' or 'score'" \
  run "$EXAMPLES/flow.yaml" --set objective.gradient=pathwise --set output.dir="$TMP/x4"
check "a refused run leaves no output folder" test ! -e "$TMP/x2"
expect_failure "flow on a one-dimensional target" 3 "flow family needs a target of dimension" \
  run "$EXAMPLES/mixture.yaml" --set family=flow --set output.dir="$TMP/x5"

# stl and score run end to end.
run_vihost run "$EXAMPLES/mixture.yaml" --quiet --set objective.gradient=score \
  --set output.dir="$TMP/mix-score"
ok $(( status != 0 )) "mixture with the score gradient runs"

done_testing
