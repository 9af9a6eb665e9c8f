#!/bin/sh
# compare.sh — comparison runs from the command line: --families, the
# comparison folder's files, draws.csv in CmdStan's layout, `vihost report`,
# and a run without gnuplot.
. "$TOP_SRCDIR/tests/lib.sh"

short="--set stop.max_iterations=400 --set stop.eval_every=100"

run_vihost run "$EXAMPLES/compare.yaml" --families meanfield,fullrank $short \
  --set output.dir="$TMP/c"
ok $(( status != 0 )) "run --families meanfield,fullrank exits 0"
for file in compare.csv compare.md reference.json meanfield/result.json fullrank/draws.csv; do
  check "the comparison wrote $file" test -s "$TMP/c/$file"
done
check "--families replaced the run file's three families" \
  test "$(tail -n +2 "$TMP/c/compare.csv" | wc -l)" -eq 2
check "no folder for a family left out" test ! -e "$TMP/c/lowrank"
check "stdout ranks the families" grep -q "^comparison of 2 families (by ELBO):" "$TMP/out"
check "compare.csv has result.json's column names" \
  grep -q "^family,dir,status,elbo_rank,elbo,elbo_mcse,iw_elbo,iw_elbo_mcse,iw_samples,log_evidence,log_evidence_mcse,khat," "$TMP/c/compare.csv"

# draws.csv in CmdStan's variational layout.
d="$TMP/c/fullrank/draws.csv"
check "draws.csv: CmdStan's method line" grep -q "^# method = variational$" "$d"
check "draws.csv: algorithm (CmdStan's names) and model" \
  sh -c "grep -q '^#     algorithm = fullrank\$' '$d' && grep -q '^# model = mvnormal\$' '$d'"
check "draws.csv: CmdStan's dotted column names" grep -q "^lp__,log_p__,log_g__,x\\.1,x\\.2," "$d"
after=$(sed -n '/^lp__/{n;p;n;p;}' "$d" | tr '\n' '|')
lr=$(sed -n 's/^    learning_rate: //p' "$TMP/c/fullrank/run.yaml")
ok $([ "$after" = "# Stepsize adaptation complete.|# eta = $lr|" ]; echo $?) \
  "draws.csv: the adaptation lines follow the header, eta the run's step size $lr (got '$after')"
check "draws.csv: the mean row comes next, lp__ log_p__ log_g__ all 0" \
  sh -c "sed -n '/^# eta/{n;p;}' '$d' | grep -q '^0,0,0,'"
check "result.json: the k-hat verdict and threshold" \
  grep -q '"khat_verdict": "' "$TMP/c/fullrank/result.json"
check "result.json: the approximation's moments" \
  grep -q '"approximation": {' "$TMP/c/fullrank/result.json"

if command -v gnuplot >/dev/null 2>&1; then
  check "report.html written" test -s "$TMP/c/report.html"
  for svg in "$TMP"/c/figures/*.svg; do
    name=${svg##*/}
    check "report.html links figures/$name" grep -q "src=\"figures/$name\"" "$TMP/c/report.html"
    if command -v xmllint >/dev/null 2>&1; then
      check "xmllint: figures/$name is well-formed" xmllint --noout "$svg"
    fi
  done
  rm -f "$TMP/c/report.html"
  run_vihost report "$TMP/c"
  ok $(( status != 0 )) "vihost report DIR exits 0"
  check "... and writes report.html again" test -s "$TMP/c/report.html"
  # A single fit's folder makes a report too.
  run_vihost run "$EXAMPLES/normal.yaml" --quiet --set output.dir="$TMP/single"
  run_vihost report "$TMP/single"
  ok $(( status != 0 )) "vihost report on a single run's folder exits 0"
  check "... with report.html and its ELBO chart" \
    test -s "$TMP/single/report.html" -a -s "$TMP/single/figures/elbo.svg"
else
  tap_count=$((tap_count + 1))
  echo "ok $tap_count # SKIP report.html: gnuplot is not installed (Debian: gnuplot-nox)"
fi

# A reference file: summaries (a summary.csv has posteriordb's columns)
# and draws (a draws.csv, its mean row left out).
for kind in summary draws; do
  run_vihost run "$EXAMPLES/compare.yaml" --quiet --families meanfield,fullrank $short \
    --set reference="$TMP/c/fullrank/$kind.csv" --set output.dir="$TMP/ref-$kind"
  ok $(( status != 0 )) "a run with the $kind.csv of another run as its reference exits 0"
  word=$kind; [ "$kind" = summary ] && word=summaries
  check "... reference.json names it" \
    grep -q "\"source\": \"reference $word in .*/c/fullrank/$kind.csv\"" \
    "$TMP/ref-$kind/reference.json"
  errors=$(awk -F, 'NR > 1 && $22 != "" { n++ } END { print n + 0 }' "$TMP/ref-$kind/compare.csv")
  ok $(( errors != 2 )) "... compare.csv has both families' mean errors against it ($errors)"
  if command -v gnuplot >/dev/null 2>&1 && command -v xmllint >/dev/null 2>&1; then
    check "... xmllint: every figure over the $kind reference is well-formed" \
      xmllint --noout "$TMP/ref-$kind"/figures/*.svg
  fi
done
check "a draws reference: its covariance is in reference.json" \
  grep -q '"cov": \[' "$TMP/ref-draws/reference.json"
check "a summaries reference: no covariance" sh -c "! grep -q '\"cov\"' '$TMP/ref-summary/reference.json'"

# One family with a reference: one more line on stdout.
run_vihost run "$EXAMPLES/mvnormal.yaml" --set family=meanfield $short \
  --set reference="$TMP/c/fullrank/summary.csv" --set output.dir="$TMP/single-ref"
check "a single fit with a reference prints its mean error and sd ratios" \
  grep -Eq "^  against the reference \(10 of 10 parameters\): max \|mean error\| [0-9.e-]+ sd \(x\[[0-9]+\]\), sd ratio" "$TMP/out"

# Without gnuplot the run succeeds and says the report was skipped.
status=0
VIHOST_GNUPLOT= "$VIHOST" run "$EXAMPLES/compare.yaml" --families meanfield,fullrank $short \
  --set output.dir="$TMP/nognuplot" >"$TMP/out" 2>"$TMP/err" || status=$?
ok $(( status != 0 )) "without gnuplot the comparison run still exits 0"
check "... says report.html was skipped" grep -q "report.html skipped" "$TMP/err"
check "... writes compare.csv" test -s "$TMP/nognuplot/compare.csv"
check "... and no report.html" test ! -e "$TMP/nognuplot/report.html"
status=0
VIHOST_GNUPLOT=/nonexistent/gnuplot "$VIHOST" report "$TMP/nognuplot" >"$TMP/out" 2>"$TMP/err" ||
  status=$?
ok $(( status != 1 )) "vihost report without gnuplot exits 1 (got $status)"
check "... naming what is missing" grep -q "cannot draw the report: gnuplot '/nonexistent/gnuplot'" "$TMP/err"

expect_failure "report of a folder that is no run" 2 "holds neither compare.csv nor result.json" \
  report "$TMP"
expect_failure "report without a folder" 2 "report needs a folder" report
expect_failure "--families with an empty name" 2 "--families 'meanfield,,fullrank'" \
  run "$EXAMPLES/compare.yaml" --families meanfield,,fullrank
expect_failure "a reference file that is missing" 2 "cannot read '.*nosuch.csv'" \
  run "$EXAMPLES/compare.yaml" --set reference=nosuch.csv --set output.dir="$TMP/noref"
check "... refused before any fit: no folder" test ! -e "$TMP/noref"
expect_failure "output.iw_samples 0" 2 "'output.iw_samples' must be a whole number >= 1" \
  run "$EXAMPLES/compare.yaml" --set output.iw_samples=0

done_testing
