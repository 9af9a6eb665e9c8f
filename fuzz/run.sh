#!/bin/sh
# run.sh SRCDIR SECONDS JOBS NAME... — runs the libFuzzer harnesses
# fuzz/fuzz-NAME (built by `make fuzz`) for SECONDS each, JOBS at a time,
# from the committed corpus fuzz/corpus/NAME.  New inputs collect in
# fuzz/work/NAME, crashes in fuzz/crashes/NAME, logs in fuzz/NAME.log; the
# last line per harness says how many inputs ran and whether it crashed.
# A crash's input belongs in tests/fuzz-crashes/NAME/ (replayed by make
# check) once the bug is fixed.
set -u
srcdir=$1 seconds=$2 jobs=$3
shift 3

run_one() {
  name=$1
  mkdir -p "fuzz/work/$name" "fuzz/crashes/$name"
  dict=
  case $name in
    runfile|set) dict="-dict=$srcdir/fuzz/yaml.dict" ;;
    data) dict="-dict=$srcdir/fuzz/json.dict" ;;
  esac
  status=0
  "./fuzz/fuzz-$name" -max_total_time="$seconds" -print_final_stats=1 -max_len=8192 \
    -timeout=10 -rss_limit_mb=2048 $dict -artifact_prefix="fuzz/crashes/$name/" \
    "fuzz/work/$name" "$srcdir/fuzz/corpus/$name" > "fuzz/$name.log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/$name.log" | tail -n 1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "fuzz/$name.log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    echo "fuzz-$name: ${runs:-?} inputs in ${secs:-?} s, no crash"
  else
    echo "fuzz-$name: CRASHED (exit $status) after ${runs:-?} inputs; see fuzz/$name.log and fuzz/crashes/$name/"
  fi
  return "$status"
}

failed=0
running=0
pids=
for name in "$@"; do
  run_one "$name" &
  pids="$pids $!"
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    for pid in $pids; do wait "$pid" || failed=1; done
    pids=
    running=0
  fi
done
for pid in $pids; do wait "$pid" || failed=1; done
exit "$failed"
