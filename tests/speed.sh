#!/bin/sh
# speed.sh — threads, minibatches and sweeps through `vihost run`: the
# outputs are the same bytes for threads 1, 2 and 3 (summary.csv,
# draws.csv, result.json but for its seconds); `threads: auto` is the
# default; minibatch runs are refused where they cannot be; a sweep
# expands its grid into folders and sweep.csv, the same with --jobs 2 as
# with one run at a time, and a bad grid is refused before anything runs.
. "$TOP_SRCDIR/tests/lib.sh"

# same_outputs A B: summary.csv and draws.csv byte-identical, result.json
# too but for its seconds.
same_outputs() {
  cmp -s "$1/summary.csv" "$2/summary.csv" && cmp -s "$1/draws.csv" "$2/draws.csv" &&
    grep -v '"seconds"' "$1/result.json" > "$TMP/ra" &&
    grep -v '"seconds"' "$2/result.json" > "$TMP/rb" && cmp -s "$TMP/ra" "$TMP/rb"
}

# threads_case NAME RUNFILE ARGS...: the run at threads 1, 2 and 3.
threads_case() {
  name=$1 file=$2
  shift 2
  fine=0
  for t in 1 2 3; do
    "$VIHOST" run "$file" --quiet --set threads=$t --set output.dir="$TMP/$name-$t" "$@" \
      > /dev/null 2> "$TMP/err-$name" || fine=1
  done
  [ $fine -eq 0 ] && same_outputs "$TMP/$name-1" "$TMP/$name-2" &&
    same_outputs "$TMP/$name-1" "$TMP/$name-3"
  ok $? "$name: threads 1, 2 and 3 write the same bytes"
}

# A logistic regression large enough (20000 x 8) that a draw is worth
# sharing among threads (a loop of little work stays on one thread).
awk 'BEGIN { srand(7); n = 20000; d = 8; printf "{\"X\": ["
  for (i = 0; i < n; i++) {
    printf "%s[1", i ? ",\n" : ""; eta = 0.3
    for (j = 1; j < d; j++) { z = sqrt(-2 * log(1 - rand())) * cos(6.2831853 * rand())
                              printf ", %.4f", z; eta += z * (j % 3 - 1) * 0.4 }
    printf "]"; y[i] = rand() < 1 / (1 + exp(-eta)) }
  printf "],\n\"y\": ["; for (i = 0; i < n; i++) printf "%s%d", i ? "," : "", y[i]
  print "]}" }' > "$TMP/big.json"
threads_case logistic-meanfield "$(runfile lm.yaml <<EOF
target: {plugin: logistic, data: $TMP/big.json}
output: {draws: 300}
EOF
)"
threads_case logistic-fullrank-stl "$(runfile lf.yaml <<EOF
target: {plugin: logistic, data: $TMP/big.json}
family: fullrank
objective: {gradient: stl, grad_samples: 5, base: pseudo}
stop: {max_iterations: 300, rule: relative}
output: {draws: 300}
EOF
)"
threads_case logistic-minibatch "$(runfile lb.yaml <<EOF
target: {plugin: logistic, data: $TMP/big.json}
objective: {batch_size: 4000, grad_samples: 3}
stop: {max_iterations: 400, rule: none}
output: {draws: 300}
EOF
)"
threads_case linreg-minibatch "$(runfile lr.yaml <<EOF
target: {plugin: linreg, data: $DATA/linreg.json}
objective: {batch_size: 25, grad_samples: 3}
stop: {max_iterations: 600, rule: none}
output: {draws: 300}
EOF
)"
threads_case gmm-mixture "$(runfile gm.yaml <<EOF
target: {plugin: gmm, options: {weights: [0.3, 0.7], means: [-3, 3], sds: [1, 1]}}
family: {plugin: mixture, options: {components: 2}}
optimizer: {plugin: adam, options: {learning_rate: 0.05}}
stop: {max_iterations: 400, rule: none}
output: {draws: 300}
EOF
)"

grep -q '^threads: 2$' "$TMP/logistic-meanfield-2/run.yaml"
ok $? "run.yaml records the threads a run was given"
"$VIHOST" run "$TMP/lm.yaml" --quiet --set output.dir="$TMP/auto" > /dev/null 2>&1 &&
  grep -q '^threads: auto$' "$TMP/auto/run.yaml" && same_outputs "$TMP/auto" "$TMP/logistic-meanfield-1"
ok $? "threads: auto is the default, and writes what one thread writes"

expect_failure "threads must be a number or auto" 2 \
  "'threads' must be a whole number in \\[1, 256\\], got 'many' \\(or auto: one per CPU\\)" \
  run "$TMP/lm.yaml" --set threads=many --set output.dir="$TMP/no"
expect_failure "a minibatch needs log_density_subset" 2 \
  "target 'mvnormal' has no n_items/log_density_subset, so it cannot evaluate minibatches" \
  run "$(runfile mv.yaml <<EOF
target: {plugin: mvnormal, data: $DATA/mvnormal.json}
objective: {batch_size: 3}
EOF
)" --set output.dir="$TMP/no"
expect_failure "a minibatch larger than the data is refused" 2 \
  "objective.batch_size is 50000, more than the 20000 data items of target 'logistic'" \
  run "$TMP/lm.yaml" --set objective.batch_size=50000 --set output.dir="$TMP/no"
[ ! -e "$TMP/no" ]
ok $? "refused runs leave no folder"

# ---- sweeps
cat > "$TMP/sweep.yaml" <<EOF
target: {plugin: logistic, data: $DATA/logistic.json}
stop: {max_iterations: 300, rule: none}
output: {draws: 100}
sweep:
  seed: [1, 2]
  family: [meanfield, {plugin: fullrank, options: {init_log_sd: -1}}]
  optimizer.options.learning_rate: [0.1]
EOF
run_vihost run "$TMP/sweep.yaml" --set output.dir="$TMP/sw1"
[ "$status" -eq 0 ] && grep -q "sweep: 4 runs done" "$TMP/out"
ok $? "a 2 x 2 x 1 sweep runs 4 runs (exit $status)"
dirs=$(cd "$TMP/sw1" && ls -d 0*/ | tr -d / | tr '\n' ' ')
[ "$dirs" = "001_seed-1_family-meanfield_learning_rate-0.1 002_seed-1_family-fullrank2_learning_rate-0.1 003_seed-2_family-meanfield_learning_rate-0.1 004_seed-2_family-fullrank2_learning_rate-0.1 " ]
ok $? "each run has its own folder, the last key varying fastest: $dirs"
[ "$(sed -n 1p "$TMP/sw1/sweep.csv")" = "run,dir,seed,family,optimizer.options.learning_rate,fitted_family,status,exit_code,converged,iterations,gradient_evaluations,elbo,iw_elbo,khat,seconds,error" ] &&
  [ "$(grep -c ',done,0,' "$TMP/sw1/sweep.csv")" -eq 4 ] &&
  grep -q '^2,002_seed-1_family-fullrank2_learning_rate-0.1,1,"{""plugin"": fullrank, ""options"": {""init_log_sd"": -1}}",0.1,fullrank,done,0,false,300,' "$TMP/sw1/sweep.csv"
ok $? "sweep.csv: a header, and one row per run with its values and outcome"
grep -q '^seed: 2$' "$TMP/sw1/003_seed-2_family-meanfield_learning_rate-0.1/run.yaml" &&
  grep -q '^sweep: null$' "$TMP/sw1/003_seed-2_family-meanfield_learning_rate-0.1/run.yaml" &&
  grep -q 'learning_rate: 0.1$' "$TMP/sw1/003_seed-2_family-meanfield_learning_rate-0.1/run.yaml"
ok $? "each run's run.yaml is that run alone, with its values"
"$VIHOST" run "$TMP/sweep.yaml" --quiet --jobs 2 --set output.dir="$TMP/sw2" > /dev/null 2>&1
fine=$?
for d in "$TMP"/sw1/0*/; do
  [ $fine -eq 0 ] && same_outputs "$d" "$TMP/sw2/$(basename "$d")" || fine=1
done
[ $fine -eq 0 ] && cut -d, -f1-14 "$TMP/sw1/sweep.csv" > "$TMP/c1" &&
  cut -d, -f1-14 "$TMP/sw2/sweep.csv" > "$TMP/c2" && cmp -s "$TMP/c1" "$TMP/c2"
ok $? "--jobs 2 writes what one run at a time writes"
expect_failure "a sweep of an unknown key is refused" 2 \
  "'sweep' key 'optimiser.options.learning_rate' is not a run-file key" \
  run "$(runfile bad-sweep.yaml <<EOF
target: {plugin: logistic, data: $DATA/logistic.json}
sweep: {optimiser.options.learning_rate: [0.1]}
EOF
)" --set output.dir="$TMP/no"
expect_failure "a bad value in the grid is refused before any run" 2 \
  "sweep run 2 \\(seed=1, stop.max_iterations=-5\\): .*'stop.max_iterations' must be a whole number >= 1" \
  run "$TMP/sweep.yaml" --set 'sweep={seed: [1], stop.max_iterations: [10, -5]}' \
  --set output.dir="$TMP/no"
[ ! -e "$TMP/no" ]
ok $? "no folder is left by a refused sweep"
cat > "$TMP/half.yaml" <<EOF
target: {plugin: logistic, data: $DATA/logistic.json}
stop: {max_iterations: 50, rule: none}
output: {draws: 10}
sweep: {family: [meanfield, nosuchfamily]}
EOF
run_vihost run "$TMP/half.yaml" --set output.dir="$TMP/half"
[ "$status" -eq 3 ] && grep -q "sweep: 1 of 2 runs failed" "$TMP/err" &&
  grep -q ',failed,3,' "$TMP/half/sweep.csv" && grep -q ',done,0,' "$TMP/half/sweep.csv"
ok $? "a failing run does not stop the others; sweep.csv and the exit status (3) say so"

done_testing
