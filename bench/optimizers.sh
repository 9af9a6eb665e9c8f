#!/bin/sh
# bench/optimizers.sh — gradient evaluations each optimizer and stopping
# rule needs for an accurate fit (a benchmark, not a test: it takes
# minutes).  Prints the markdown tables of share/doc/optimizers.md.
#
#   bench/optimizers.sh [VIHOST] [SHARED_BENCH_DIR]
#
# Targets: the mvnormal example (exact mean and covariance in its data; the
# fullrank family) and, when ../shared/bench/logistic_N10000_D20 is there,
# Bayesian logistic regression on it against its NUTS reference (meanfield:
# means only, since a mean-field optimum underestimates sds; fullrank: means
# and sds).  Accurate means: every posterior mean within 0.1 reference sd
# (from the approximation's exact mean, the first row of draws.csv) and
# every sd within 10% (from 4000 draws).  Every optimizer runs with its own
# option defaults (adam* is the run file's default adam, adam plain has
# Kingma & Ba's options) and the run file's other defaults (4 scrambled
# Sobol draws per gradient, polynomial averaging).
#
# Table 1, "needed": the smallest budget stop.max_gradients in 500, 1000,
# 2000, ..., 16000 at which rule none gives an accurate fit ("-" if none).
# Table 2: each stopping rule at its defaults (relative with Stan's 0.01),
# the gradients it used and whether the fit it returned is accurate.
set -u
here=$(cd "$(dirname "$0")" && pwd)
VIHOST=${1:-$here/../vihost}
SHARED=${2:-$here/../../shared/bench}
[ -x "$VIHOST" ] || { echo "bench: no vihost at $VIHOST (give its path)" >&2; exit 2; }
SRC=$(cd "$here/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vihost-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# reference.csv (name,mean,sd) of the mvnormal example from its data file.
awk 'BEGIN { RS = "[][,{}\n ]+" }
     /"mean"/ { what = "m"; k = 0; next } /"cov"/ { what = "c"; k = 0; next } /"D"/ { what = ""; next }
     what == "m" && $0 ~ /^-?[0-9]/ { m[++k] = $0 }
     what == "c" && $0 ~ /^-?[0-9]/ { c[++k] = $0 }
     END { d = 0; for (i in m) d++; print "name,mean,sd";
           for (i = 1; i <= d; i++) printf "x[%d],%s,%.10g\n", i, m[i], sqrt(c[(i - 1) * d + i]) }' \
  "$SRC/share/data/mvnormal.json" > "$TMP/mvnormal-ref.csv"

# accuracy DIR REF CHECK_SD: prints "mean_err sd_err" (worst, in sd units and
# relative), exit 0 when both are within the bounds.
accuracy() {
  awk -F, -v check_sd="$3" '
    FILENAME == ARGV[1] { if (FNR > 1) { m[$1] = $2; s[$1] = $3 } next }
    # draws.csv names are CmdStan-style, beta.1 or L.2.1: back to beta[1], L[2,1]
    FILENAME == ARGV[2] && /^lp__/ { for (i = 4; i <= NF; i++) {
        k = split($i, part, "."); name = part[1]
        for (j = 2; j <= k; j++) name = name (j == 2 ? "[" : ",") part[j]
        col[i] = k > 1 ? name "]" : name } next }
    FILENAME == ARGV[2] && !/^#/ && !seen { seen = 1
      for (i = 4; i <= NF; i++) if ((col[i]) in m) { e = ($i - m[col[i]]) / s[col[i]]; if (e < 0) e = -e; if (e > me) me = e } next }
    FILENAME == ARGV[3] && FNR > 1 && ($1 in m) { r = $3 / s[$1] - 1; if (r < 0) r = -r; if (r > se) se = r }
    function num(x) { return x < 1e6 ? sprintf("%.3f", x) : sprintf("%.3g", x) }
    END { printf "%s %s\n", num(me), num(se); exit !(me <= 0.1 && (!check_sd || se <= 0.1)) }' \
    "$2" "$1/draws.csv" "$1/summary.csv"
}

# fit NAME RUNFILE SETS...: runs vihost; prints "gradients mean_err sd_err ok"
fit() {
  name=$1 file=$2 ref=$3 check_sd=$4
  shift 4
  out="$TMP/$name"
  rm -rf "$out"
  if ! "$VIHOST" run "$file" --quiet --set output.dir="$out" --set output.draws=4000 "$@" \
      > /dev/null 2> "$TMP/err"; then
    echo "failed - - no"
    return
  fi
  g=$(sed -n 's/^  "gradient_evaluations": \([0-9]*\),*$/\1/p' "$out/result.json")
  acc=$(accuracy "$out" "$ref" "$check_sd") && verdict=yes || verdict=no
  echo "$g $acc $verdict"
}

OPTIMIZERS="adam* adam sgd adagrad rmsprop stan dog"
# optimizer NAME: the --set that picks it.
optimizer_set() {
  case $1 in
    adam\*) echo "seed=1" ;;  # no optimizer section: the run file's default adam
    *) echo "optimizer={plugin: $1}" ;;
  esac
}

cat > "$TMP/mvnormal.yaml" <<EOF
target: {plugin: mvnormal, data: $SRC/share/data/mvnormal.json}
family: fullrank
EOF
CASES="mvnormal/fullrank:$TMP/mvnormal.yaml:$TMP/mvnormal-ref.csv:1"
if [ -f "$SHARED/logistic_N10000_D20/data.json" ]; then
  printf 'target: {plugin: logistic, data: %s}\n' "$SHARED/logistic_N10000_D20/data.json" > "$TMP/logistic.yaml"
  L="$TMP/logistic.yaml:$SHARED/logistic_N10000_D20/reference.csv"
  CASES="$CASES logistic/meanfield:$L:0 logistic/fullrank:$L:1"
else
  echo "bench: $SHARED/logistic_N10000_D20 not found; mvnormal only" >&2
fi

echo "Gradient evaluations needed for an accurate fit (rule none, budget doubled until accurate):"
echo
printf '| optimizer |'; for c in $CASES; do printf ' %s |' "${c%%:*}"; done; echo
printf '| --- |'; for c in $CASES; do printf ' --- |'; done; echo
for opt in $OPTIMIZERS; do
  printf '| %s |' "$opt"
  for c in $CASES; do
    label=${c%%:*}; rest=${c#*:}; file=${rest%%:*}; rest=${rest#*:}; ref=${rest%%:*}; sd=${rest#*:}
    fam=${label#*/}
    needed=-
    for budget in 500 1000 2000 4000 8000 16000; do
      set -- $(fit "n" "$file" "$ref" "$sd" --set "$(optimizer_set "$opt")" --set family=$fam \
        --set stop.rule=none --set stop.max_gradients=$budget --set stop.max_iterations=1000000 \
        --set stop.eval_every=1000000)
      if [ "$4" = yes ]; then needed=$budget; break; fi
    done
    printf ' %s |' "$needed"
  done
  echo
done

echo
echo "Each stopping rule at its defaults: gradients used, worst mean error (sd), worst sd error, accurate?"
echo
printf '| optimizer | rule |'; for c in $CASES; do printf ' %s |' "${c%%:*}"; done; echo
printf '| --- | --- |'; for c in $CASES; do printf ' --- |'; done; echo
for opt in $OPTIMIZERS; do
  for rule in relative mcse rhat; do
    printf '| %s | %s |' "$opt" "$rule"
    for c in $CASES; do
      label=${c%%:*}; rest=${c#*:}; file=${rest%%:*}; rest=${rest#*:}; ref=${rest%%:*}; sd=${rest#*:}
      set -- $(fit "r" "$file" "$ref" "$sd" --set "$(optimizer_set "$opt")" \
        --set family=${label#*/} --set stop.rule=$rule --set stop.max_iterations=5000)
      if [ "$sd" = 1 ]; then printf ' %s, %s, %s, %s |' "$1" "$2" "$3" "$4"
      else printf ' %s, %s, -, %s |' "$1" "$2" "$4"; fi
    done
    echo
  done
done
