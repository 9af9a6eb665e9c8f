#!/bin/sh
# resume.sh — output.checkpoint_every and `vihost run --resume`: a run
# killed with SIGKILL mid-way leaves no result, and resumed it writes the
# very bytes an uninterrupted run writes (but for the seconds); a
# checkpoint of another run, or a damaged one, is refused; minibatches
# resume with their control variate's anchor; a list of families resumed
# keeps the families that had finished.
. "$TOP_SRCDIR/tests/lib.sh"

# Long enough to be killed mid-way (about a second here; polling finds
# the first checkpoint whatever the speed), with every kind of state:
# Adam's moments, the relative rule's buffer, iterate averaging.
iterations=6000
[ -n "${VIHOST_VALGRIND:-}" ] && iterations=1200
cat > "$TMP/run.yaml" <<EOF
seed: 42
target: {plugin: logistic, data: $DATA/logistic.json}
family: fullrank
optimizer: {plugin: adam, options: {learning_rate: 0.05}}
objective: {grad_samples: 20, elbo_samples: 200}
stop: {max_iterations: $iterations, eval_every: 100, rule: relative, tolerance: 0.00001}
averaging: {method: polyak, start: 1000}
output: {checkpoint_every: 200, draws: 500}
EOF

# same_results A B: summary.csv, draws.csv, result.json without its
# seconds and trace.csv without its seconds column are byte-identical.
same_results() {
  cmp -s "$1/summary.csv" "$2/summary.csv" && cmp -s "$1/draws.csv" "$2/draws.csv" &&
    grep -v '"seconds"' "$1/result.json" > "$TMP/ra" &&
    grep -v '"seconds"' "$2/result.json" > "$TMP/rb" && cmp -s "$TMP/ra" "$TMP/rb" &&
    cut -d, -f1-5,7- "$1/trace.csv" > "$TMP/ta" && cut -d, -f1-5,7- "$2/trace.csv" > "$TMP/tb" &&
    cmp -s "$TMP/ta" "$TMP/tb"
}

# start_and_kill DIR [RUNFILE]: starts the run (run.yaml) into DIR and
# kills it (SIGKILL) as soon as its first checkpoint is on disk; $killed
# says whether it was still running then.
start_and_kill() {
  "$VIHOST" run "${2:-$TMP/run.yaml}" --quiet --set output.dir="$1" > /dev/null 2>&1 &
  pid=$!
  base=$(basename "$1")
  waited=0
  while [ ! -e "$TMP/.$base.vihost-checkpoint" ] && kill -0 "$pid" 2>/dev/null &&
        [ "$waited" -lt 6000 ]; do
    sleep 0.01
    waited=$((waited + 1))
  done
  killed=0
  kill -9 "$pid" 2>/dev/null && killed=1
  wait "$pid" 2>/dev/null
}

run_vihost run "$TMP/run.yaml" --quiet --set output.dir="$TMP/whole"
ok "$status" "an uninterrupted run with checkpoints finishes"
check "... and removes its checkpoint when its outputs are in place" \
  test ! -e "$TMP/.whole.vihost-checkpoint"

start_and_kill "$TMP/killed"
ok $((killed != 1)) "the second run was killed with SIGKILL mid-way"
check "a killed run leaves no output folder" test ! -e "$TMP/killed"
check "... but its last checkpoint, whole" test -s "$TMP/.killed.vihost-checkpoint"
stale=$(ls -d "$TMP"/.killed.vihost-?????? 2>/dev/null | head -n 1)
check "... and its staging folder" test -n "$stale"

expect_failure "--resume with another seed refuses the checkpoint" 2 \
  "\\.killed\\.vihost-checkpoint belongs to another run: .* remove it to start afresh" \
  run "$TMP/run.yaml" --resume --set output.dir="$TMP/killed" --set seed=43
check "... and leaves no output folder" test ! -e "$TMP/killed"

run_vihost run "$TMP/run.yaml" --resume --set output.dir="$TMP/killed"
ok "$status" "--resume continues the killed run to its end"
at=$(sed -n 's/.*resuming .* from iteration \([0-9]*\) .*/\1/p' "$TMP/err")
echo "# resumed from iteration ${at:-?} of $iterations"
ok $(( ${at:-0} <= 0 || ${at:-0} >= iterations )) "... from an iteration mid-way (${at:-none})"
check "the resumed run's outputs are those of the uninterrupted run (but for the seconds)" \
  same_results "$TMP/whole" "$TMP/killed"
check "... summary.csv byte for byte" cmp "$TMP/whole/summary.csv" "$TMP/killed/summary.csv"
check "... result.json byte for byte without its seconds" cmp "$TMP/ra" "$TMP/rb"
check "the checkpoint is gone" test ! -e "$TMP/.killed.vihost-checkpoint"
check "the killed run's staging folder is gone" test ! -e "$stale"

# A damaged checkpoint (one byte changed) is refused, not trusted.
start_and_kill "$TMP/damaged"
ok $((killed != 1)) "a third run was killed mid-way"
size=$(wc -c < "$TMP/.damaged.vihost-checkpoint")
printf '\377' | dd of="$TMP/.damaged.vihost-checkpoint" bs=1 seek=$((size / 2)) conv=notrunc \
  2> /dev/null
expect_failure "--resume refuses a damaged checkpoint" 2 \
  "\\.damaged\\.vihost-checkpoint is damaged \\(its checksum does not match\\)" \
  run "$TMP/run.yaml" --resume --set output.dir="$TMP/damaged"
head -c 100 "$TMP/run.yaml" > "$TMP/.damaged.vihost-checkpoint"
expect_failure "--resume refuses a file that is no checkpoint" 2 \
  "\\.damaged\\.vihost-checkpoint is not a vihost checkpoint" \
  run "$TMP/run.yaml" --resume --set output.dir="$TMP/damaged"
rm -f "$TMP/.damaged.vihost-checkpoint"

# --resume without a checkpoint starts from the beginning.
run_vihost run "$TMP/run.yaml" --resume --set output.dir="$TMP/fresh"
ok "$status" "--resume without a checkpoint runs from the start"
check "... saying so" grep -q "no checkpoint .*fresh.vihost-checkpoint: starting from the beginning" \
  "$TMP/err"
check "... to the same results" same_results "$TMP/whole" "$TMP/fresh"

# Minibatches with the control variate: the anchor (moved every 7
# iterations, between checkpoints) is saved and restored too.
iterations_b=$((iterations * 4))
cat > "$TMP/batch.yaml" <<EOF
seed: 42
target: {plugin: logistic, data: $DATA/logistic.json}
family: meanfield
objective: {batch_size: 40, anchor_every: 7, grad_samples: 4, elbo_samples: 20}
stop: {max_iterations: $iterations_b, eval_every: 100, rule: none}
output: {checkpoint_every: 200, draws: 100}
EOF
run_vihost run "$TMP/batch.yaml" --quiet --set output.dir="$TMP/batch-whole"
ok "$status" "an uninterrupted minibatch run finishes"
start_and_kill "$TMP/batch-killed" "$TMP/batch.yaml"
ok $((killed != 1)) "a minibatch run was killed mid-way"
run_vihost run "$TMP/batch.yaml" --resume --set output.dir="$TMP/batch-killed"
at=$(sed -n 's/.*resuming .* from iteration \([0-9]*\) .*/\1/p' "$TMP/err")
ok $(( status != 0 || ${at:-0} <= 0 || ${at:-0} >= iterations_b )) \
  "... and resumed from an iteration mid-way (${at:-none}), anchor and all"
check "... to the uninterrupted run's outputs" same_results "$TMP/batch-whole" "$TMP/batch-killed"

# A list of families killed while the second one runs: resumed, the
# first, finished before the kill, keeps its outputs (not fitted again),
# the second continues from its checkpoint, and the comparison is the
# uninterrupted run's.
cat > "$TMP/families.yaml" <<EOF
seed: 42
target: {plugin: logistic, data: $DATA/logistic.json}
family: [meanfield, fullrank]
objective: {grad_samples: 20, elbo_samples: 200}
stop: {max_iterations: $iterations, eval_every: 100, rule: none}
output: {checkpoint_every: 200, draws: 500}
EOF
run_vihost run "$TMP/families.yaml" --quiet --set output.dir="$TMP/fam-whole"
ok "$status" "an uninterrupted run of two families finishes"
check "... and leaves no checkpoint or mark of a finished family" \
  test -z "$(ls -a "$TMP/fam-whole" | grep vihost-checkpoint)"
"$VIHOST" run "$TMP/families.yaml" --quiet --set output.dir="$TMP/fam-killed" > /dev/null 2>&1 &
pid=$!
waited=0
while [ ! -e "$TMP/fam-killed/.fullrank.vihost-checkpoint" ] && kill -0 "$pid" 2>/dev/null &&
      [ "$waited" -lt 6000 ]; do
  sleep 0.01
  waited=$((waited + 1))
done
killed=0
kill -9 "$pid" 2>/dev/null && killed=1
wait "$pid" 2>/dev/null
ok $((killed != 1)) "the run was killed while fitting its second family"
mtime=$(stat -c %Y.%i "$TMP/fam-killed/meanfield/result.json" 2>/dev/null)
run_vihost run "$TMP/families.yaml" --resume --set output.dir="$TMP/fam-killed"
ok "$status" "--resume finishes it"
check "... keeping the first family's outputs, said so" \
  grep -q "family 'meanfield' had finished before the run stopped: keeping" "$TMP/err"
check "... not written again" \
  test "$mtime" = "$(stat -c %Y.%i "$TMP/fam-killed/meanfield/result.json")"
check "... the second resumed from its checkpoint" \
  grep -q "resuming family 'fullrank' from iteration" "$TMP/err"
for f in meanfield/summary.csv fullrank/summary.csv fullrank/draws.csv; do
  check "... $f is the uninterrupted run's" cmp "$TMP/fam-whole/$f" "$TMP/fam-killed/$f"
done
# without_seconds CSV: the file without its seconds column.
without_seconds() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i }
    { line = ""; for (i = 1; i <= NF; i++) if (i != c) line = line (line == "" ? "" : ",") $i
      print line }' "$1"
}
without_seconds "$TMP/fam-whole/compare.csv" > "$TMP/ca"
without_seconds "$TMP/fam-killed/compare.csv" > "$TMP/cb"
check "... so is compare.csv but for the seconds" cmp "$TMP/ca" "$TMP/cb"
check "... and no checkpoint or mark is left" \
  test -z "$(ls -a "$TMP/fam-killed" | grep vihost-checkpoint)"

# A checkpoint that cannot be written costs a warning, never the run.
mkdir "$TMP/.blocked.vihost-checkpoint"
run_vihost run "$TMP/run.yaml" --quiet --set output.dir="$TMP/blocked"
ok "$status" "a run whose checkpoint cannot be written still finishes"
check "... warning once" test "$(grep -c "warning: cannot write checkpoint" "$TMP/err")" -eq 1
check "... with the same results" same_results "$TMP/whole" "$TMP/blocked"

# A run's staging folder is locked while it lives: another run into the
# same folder leaves it alone, and sweeps it away once its run is killed.
printf 'target: {plugin: normal, data: %s/normal.json}\nstop: {max_iterations: 100000000, rule: none}\n' \
  "$DATA" > "$TMP/long.yaml"
"$VIHOST" run "$TMP/long.yaml" --quiet --set output.dir="$TMP/shared" > /dev/null 2>&1 &
pid=$!
waited=0
while [ -z "$(ls -d "$TMP"/.shared.vihost-?????? 2>/dev/null)" ] && [ "$waited" -lt 3000 ]; do
  sleep 0.01
  waited=$((waited + 1))
done
live=$(ls -d "$TMP"/.shared.vihost-?????? 2>/dev/null | head -n 1)
printf 'target: {plugin: normal, data: %s/normal.json}\nstop: {max_iterations: 50}\n' "$DATA" \
  > "$TMP/short.yaml"
run_vihost run "$TMP/short.yaml" --quiet --set output.dir="$TMP/shared"
ok "$status" "a second run into the folder of a running one finishes"
check "... leaving the running one's staging folder alone" test -n "$live" -a -d "$live"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
run_vihost run "$TMP/short.yaml" --quiet --set output.dir="$TMP/shared"
check "once that run is killed, the next run sweeps its staging folder away" test ! -e "$live"
check "... and no other is left" test -z "$(ls -d "$TMP"/.shared.vihost-* 2>/dev/null)"

# An optimizer that cannot save its state cannot be checkpointed.
printf 'target: {plugin: %s/faults.so}\noptimizer: {plugin: %s/faults.so}\noutput: {checkpoint_every: 10}\n' \
  "$TEST_PLUGINS" "$TEST_PLUGINS" > "$TMP/nosave.yaml"
expect_failure "checkpoints with an optimizer that cannot save its state" 2 \
  "output.checkpoint_every and --resume need an optimizer that can save its state, and optimizer 'fault_optimizer' cannot" \
  run "$TMP/nosave.yaml" --set output.dir="$TMP/nosave"
check "... refused before the run: no output folder" test ! -e "$TMP/nosave"

done_testing
