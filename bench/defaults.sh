#!/bin/sh
# bench/defaults.sh — what a user gets without tuning: a run file naming only
# the target and the family, on ../shared/bench/logistic_N10000_D20 (10000
# rows, 20 coefficients, a NUTS reference), for meanfield and fullrank and
# three seeds.  Prints, per run, the wall time of the whole `vihost run`
# (loading the data, fitting, drawing and writing everything), the gradient
# evaluations, the largest mean error in reference sds and the sd ratios
# (min / median / max), then the medians over the seeds next to the bars:
# every mean within 0.2 reference sd, and for fullrank sd ratios within
# [0.85, 1.15], in less wall time than Stan's ADVI at its defaults on the
# same 2-core machine (0.38 s meanfield, 0.60 s fullrank; see the shared
# bench README).  A benchmark, not a test: timings depend on the machine.
#
#   bench/defaults.sh [VIHOST] [SHARED_BENCH_DIR]
set -u
here=$(cd "$(dirname "$0")" && pwd)
VIHOST=${1:-$here/../vihost}
SHARED=${2:-$here/../../shared/bench}
DATA="$SHARED/logistic_N10000_D20"
[ -x "$VIHOST" ] || { echo "bench: no vihost at $VIHOST (give its path)" >&2; exit 2; }
[ -f "$DATA/data.json" ] || { echo "bench: $DATA/data.json not found (give the shared bench folder)" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vihost-defaults.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }

for family in meanfield fullrank; do
  printf 'target: {plugin: logistic, data: %s}\nfamily: %s\n' "$DATA/data.json" "$family" \
    > "$TMP/$family.yaml"
  for seed in 1 2 3; do
    out="$TMP/$family-$seed"
    start=$(now)
    "$VIHOST" run "$TMP/$family.yaml" --quiet --set seed=$seed --set output.dir="$out" \
      || { echo "bench: the $family run failed" >&2; exit 1; }
    end=$(now)
    g=$(sed -n 's/^  "gradient_evaluations": \([0-9]*\),*$/\1/p' "$out/result.json")
    awk -F, -v fam=$family -v seed=$seed -v wall="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" -v g="$g" '
      NR == FNR { if (FNR > 1) { m[$1] = $2; s[$1] = $3 } next }
      FNR > 1 && ($1 in m) { e = ($2 - m[$1]) / s[$1]; if (e < 0) e = -e; if (e > me) me = e
                             r[++n] = $3 / s[$1] }
      END { for (i = 2; i <= n; i++) { v = r[i]; j = i - 1
              while (j > 0 && r[j] > v) { r[j + 1] = r[j]; j-- } r[j + 1] = v }
            printf "%s %d %.3f %d %.3f %.3f %.3f %.3f\n", fam, seed, wall, g, me,
                   r[1], r[int((n + 1) / 2)], r[n] }' \
      "$DATA/reference.csv" "$out/summary.csv"
  done
done > "$TMP/rows"

echo "| family | seed | wall time (s) | gradients | largest mean error (sd) | sd ratio min / median / max |"
echo "| --- | --- | --- | --- | --- | --- |"
awk '{ printf "| %s | %s | %.2f | %s | %.3f | %.2f / %.2f / %.2f |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$TMP/rows"
echo
# Medians over the three seeds, and the verdict against the bars.
for family in meanfield fullrank; do
  grep "^$family " "$TMP/rows" | awk -v fam=$family '
    function med(a, b, c) { return a + b + c - (a < b ? (a < c ? a : c) : (b < c ? b : c)) - (a > b ? (a > c ? a : c) : (b > c ? b : c)) }
    { w[NR] = $3; e[NR] = $5; lo[NR] = $6; hi[NR] = $8; if ($5 > worst) worst = $5
      if (NR == 1 || $6 < minr) minr = $6; if ($8 > maxr) maxr = $8 }
    END { stan = fam == "meanfield" ? 0.38 : 0.60
          mean_ok = worst <= 0.2; sd_ok = fam == "meanfield" || (minr >= 0.85 && maxr <= 1.15)
          t = med(w[1], w[2], w[3])
          printf "%s: median wall time %.2f s (Stan %.2f s: %s); largest mean error over the seeds %.3f sd (%s)",
                 fam, t, stan, t < stan ? "faster" : "slower", worst, mean_ok ? "within 0.2" : "NOT within 0.2"
          if (fam == "fullrank") printf "; sd ratios %.2f to %.2f (%s)", minr, maxr, sd_ok ? "within [0.85, 1.15]" : "NOT within [0.85, 1.15]"
          printf "\n" }'
done
