#!/bin/sh
# mpi.sh — `mpirun -np 2 vihost run FILE` (a vihost built with
# ./configure --with-mpi): the two ranks share the data items and give the
# one-process fit of the same seed to 1e-10 relative (the approximation's
# exact means and sds, the ELBO), also with minibatches; only rank 0
# writes; a sweep under mpirun splits its grid between the ranks.  Skipped
# when vihost has no MPI or mpirun is missing.
. "$TOP_SRCDIR/tests/lib.sh"

if [ "${VIHOST_MPI:-}" != yes ]; then
  echo "1..0 # SKIP vihost was built without MPI (./configure --with-mpi)"
  exit 0
fi
if [ -z "${MPIRUN:-}" ] || ! command -v "$MPIRUN" > /dev/null 2>&1; then
  echo "1..0 # SKIP mpirun not found (apt-get install openmpi-bin)"
  exit 0
fi
# Two ranks on one machine, whatever its cores; root in containers; a
# hang is a failure, not a stalled suite.
mpi() {
  timeout 300 "$MPIRUN" --oversubscribe --allow-run-as-root -np 2 "$@"
}
# A machine where Open MPI itself cannot start two processes (no shared
# memory, a sandbox) says nothing about vihost.
if ! timeout 60 "$MPIRUN" --oversubscribe --allow-run-as-root -np 2 true > "$TMP/probe" 2>&1; then
  echo "1..0 # SKIP mpirun cannot start 2 processes here: $(grep -m 1 . "$TMP/probe")"
  exit 0
fi

# approx KEY FILE: the numbers of result.json's approximation.KEY list,
# one per line.
approx() {
  sed -n "/^    \"$1\": \\[/,/^    \\]/p" "$2" | grep -E '^ *-?[0-9]'
}

# close A B WHAT: every number of A within 1e-10 relative of B's.
close() {
  paste "$1" "$2" | awk -v what="$3" '
    { d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; r = d / (s > 1e-300 ? s : 1)
      if (r > worst) worst = r; n++ }
    END { printf "# %s: %d values, largest relative difference %.3g\n", what, n, worst
          exit !(n > 0 && worst <= 1e-10) }'
}

# same_fit ONE TWO: means, sds and ELBO agree to 1e-10.
same_fit() {
  approx mean "$1/result.json" > "$TMP/m1" && approx mean "$2/result.json" > "$TMP/m2" &&
    approx sd "$1/result.json" > "$TMP/s1" && approx sd "$2/result.json" > "$TMP/s2" &&
    json_number elbo "$1/result.json" > "$TMP/e1" && json_number elbo "$2/result.json" > "$TMP/e2" &&
    json_number iterations "$1/result.json" > "$TMP/i1" &&
    json_number iterations "$2/result.json" > "$TMP/i2" && cmp -s "$TMP/i1" "$TMP/i2" &&
    close "$TMP/m1" "$TMP/m2" means && close "$TMP/s1" "$TMP/s2" sds &&
    close "$TMP/e1" "$TMP/e2" ELBO
}

cat > "$TMP/run.yaml" <<EOF
seed: 7
target: {plugin: logistic, data: $DATA/logistic.json}
family: fullrank
stop: {max_iterations: 400, rule: none}
output: {draws: 200}
threads: 1
EOF
"$VIHOST" run "$TMP/run.yaml" --quiet --set output.dir="$TMP/one" > /dev/null 2>&1
mpi "$VIHOST" run "$TMP/run.yaml" --set output.dir="$TMP/two" > "$TMP/out" 2> "$TMP/err"
status=$?
[ $status -eq 0 ] && same_fit "$TMP/one" "$TMP/two"
ok $? "2 ranks fit logistic/fullrank as one process does, to 1e-10 (exit $status)"
[ "$(grep -c 'outputs in' "$TMP/out")" -eq 1 ] && [ ! -s "$TMP/err" ] &&
  [ "$(ls -a "$TMP" | grep -c 'vihost-')" -eq 0 ]
ok $? "only rank 0 prints and writes"

"$VIHOST" run "$TMP/run.yaml" --quiet --set output.dir="$TMP/one-b" \
  --set objective.batch_size=60 --set objective.anchor_every=7 --set family=meanfield \
  --set stop.rule=mcse > /dev/null 2>&1
mpi "$VIHOST" run "$TMP/run.yaml" --quiet --set output.dir="$TMP/two-b" \
  --set objective.batch_size=60 --set objective.anchor_every=7 --set family=meanfield \
  --set stop.rule=mcse > /dev/null 2>&1
same_fit "$TMP/one-b" "$TMP/two-b"
ok $? "with minibatches of 60 (the control variate's anchor passes shared too) and the mcse rule"

cat > "$TMP/nosubset.yaml" <<EOF
target: {plugin: mvnormal, data: $DATA/mvnormal.json}
EOF
mpi "$VIHOST" run "$TMP/nosubset.yaml" --set output.dir="$TMP/no" > "$TMP/out" 2> "$TMP/err"
status=$?
[ $status -ne 0 ] && grep -q "no n_items/log_density_subset, so it cannot share its data among MPI ranks" "$TMP/err" &&
  [ ! -e "$TMP/no" ]
ok $? "a target that cannot share its data is refused (exit $status)"

cat > "$TMP/sweep.yaml" <<EOF
target: {plugin: logistic, data: $DATA/logistic.json}
stop: {max_iterations: 200, rule: none}
output: {draws: 50}
sweep: {seed: [1, 2, 3]}
EOF
mpi "$VIHOST" run "$TMP/sweep.yaml" --quiet --set output.dir="$TMP/sw2" > /dev/null 2>&1
status=$?
"$VIHOST" run "$TMP/sweep.yaml" --quiet --set output.dir="$TMP/sw1" > /dev/null 2>&1
fine=$status
for d in "$TMP"/sw1/0*/; do
  [ $fine -eq 0 ] && cmp -s "$d/summary.csv" "$TMP/sw2/$(basename "$d")/summary.csv" || fine=1
done
[ $fine -eq 0 ] && [ "$(grep -c ',done,0,' "$TMP/sw2/sweep.csv")" -eq 3 ]
ok $? "a sweep under mpirun splits its 3 runs between the ranks, each as one process runs it"

done_testing
