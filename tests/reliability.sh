#!/bin/sh
# reliability.sh — no bad input and no failing plugin crashes vihost or
# leaves a result behind: every case exits with DESIGN.md's status, says
# what is wrong in one line (file:line:column where there is one), and
# leaves no output folder.  share/doc/reliability.md tabulates these cases.
. "$TOP_SRCDIR/tests/lib.sh"

OUT="$TMP/results"
FAULTS="$TEST_PLUGINS/faults.so"
good_target="target: {plugin: normal, data: $DATA/normal.json}"

# no_output DESCRIPTION: the run left no output folder and no staging one.
no_output() {
  if [ ! -e "$OUT" ] && ! ls -A "$TMP" | grep -q '^\.results\.vihost-'; then
    ok 0 "$1: no output folder left"
  else
    ok 1 "$1: an output folder was left behind"
    rm -rf "$OUT" "$TMP"/.results.vihost-*
  fi
}

# refused NAME STATUS PATTERN [ARGS...]: vihost run $TMP/NAME.yaml (written
# just before; output.dir set to $OUT) fails with STATUS and one line
# matching PATTERN, leaving no output folder.  (Never in a pipeline: the
# TAP counter must stay in this shell.)
refused() {
  name=$1 want=$2 pattern=$3
  shift 3
  expect_failure "$name" "$want" "$pattern" run "$TMP/$name.yaml" --set output.dir="$OUT" "$@"
  no_output "$name"
}

# ------------------------------------------------------------ run files
printf 'target: {plugin: normal\nseed: 3\n' > "$TMP/unclosed-flow.yaml"
refused unclosed-flow 2 \
  "unclosed-flow.yaml:[0-9]+:[0-9]+: YAML syntax error"
printf 'target:\n  plugin: normal\n data: x.json\n' > "$TMP/bad-indent.yaml"
refused bad-indent 2 \
  "bad-indent.yaml:3:[0-9]+: YAML syntax error"
printf 'target: {plugin: "normal}\n' > "$TMP/unclosed-quote.yaml"
refused unclosed-quote 2 \
  "unclosed-quote.yaml:[0-9]+:[0-9]+: YAML syntax error"
printf '%s\nstop: {tolerence: 0.1}\n' "$good_target" > "$TMP/misspelled-in-section.yaml"
refused misspelled-in-section 2 \
  "misspelled-in-section.yaml:2:8: unknown key 'tolerence' in 'stop' \\(did you mean 'tolerance'\\?\\)"
printf '%s\ncolour: red\n' "$good_target" > "$TMP/unknown-key.yaml"
refused unknown-key 2 \
  "unknown-key.yaml:2:1: unknown key 'colour' \\(valid keys: vihost, seed, .*\\)"
printf '%s\nseed: [1, 2]\n' "$good_target" > "$TMP/list-for-number.yaml"
refused list-for-number 2 \
  "list-for-number.yaml:2:7: 'seed' must be a whole number >= 0, got a list"
printf '%s\nstop: 5\n' "$good_target" > "$TMP/number-for-section.yaml"
refused number-for-section 2 \
  "number-for-section.yaml:2:7: 'stop' must be a mapping"
printf '%s\nstop: {max_iterations: "100"}\n' "$good_target" > "$TMP/quoted-number.yaml"
refused quoted-number 2 \
  "quoted-number.yaml:2:24: 'stop.max_iterations' must be a whole number >= 1, got \"100\" \\(in quotes, so text\\)"
printf '%s\noutput: {draws: true}\n' "$good_target" > "$TMP/bool-for-number.yaml"
refused bool-for-number 2 \
  "bool-for-number.yaml:2:17: 'output.draws' must be a whole number"
printf 'target: {plugin: normal, data: %s/normal.json, options: 3}\n' "$DATA" > "$TMP/options-not-mapping.yaml"
refused options-not-mapping 2 \
  "options-not-mapping.yaml:1:[0-9]+: 'target.options' must be a mapping"
printf '%s\nfamily: []\n' "$good_target" > "$TMP/empty-family-list.yaml"
refused empty-family-list 2 \
  "empty-family-list.yaml:2:9: 'family' lists no families"
printf '%s\noutput: {draws: -5}\n' "$good_target" > "$TMP/negative-size.yaml"
refused negative-size 2 \
  "negative-size.yaml:2:17: 'output.draws' must be a whole number >= 0, got '-5'"
printf '%s\nobjective: {elbo_samples: 1}\n' "$good_target" > "$TMP/one-elbo-sample.yaml"
refused one-elbo-sample 2 \
  "one-elbo-sample.yaml:2:27: 'objective.elbo_samples' must be a whole number >= 2"
printf '%s\nthreads: 0\n' "$good_target" > "$TMP/zero-threads.yaml"
refused zero-threads 2 \
  "zero-threads.yaml:2:10: 'threads' must be a whole number in \\[1, 256\\], got '0'"
printf '%s\nstop: {tolerance: 0}\n' "$good_target" > "$TMP/zero-tolerance.yaml"
refused zero-tolerance 2 \
  "zero-tolerance.yaml:2:19: 'stop.tolerance' must be a number > 0, got '0'"
printf 'vihost: 2\n%s\n' "$good_target" > "$TMP/future-format.yaml"
refused future-format 2 \
  "future-format.yaml:1:9: 'vihost' must be 1, got '2'"
printf '%s\noptimizer: {plugin: adam, options: {learning_rate: .nan}}\n' "$good_target" > "$TMP/nan-option.yaml"
refused nan-option 2 "nan-option.yaml:2:[0-9]+: .*learning_rate"

# Huge numbers: refused where they stand, or (sizes no memory can hold)
# refused before the run starts; never wrapped around.
printf '%s\nseed: 99999999999999999999999\n' "$good_target" > "$TMP/seed-beyond-64-bits.yaml"
refused seed-beyond-64-bits 2 \
  "seed-beyond-64-bits.yaml:2:7: 'seed' must be a whole number >= 0"
printf '%s\nstop: {tolerance: 1e999}\n' "$good_target" > "$TMP/overflowing-real.yaml"
refused overflowing-real 2 \
  "overflowing-real.yaml:2:19: 'stop.tolerance' must be a number > 0, got '1e999'"
printf '%s\nstop: {max_iterations: 1e30}\n' "$good_target" > "$TMP/inexact-whole.yaml"
refused inexact-whole 2 \
  "inexact-whole.yaml:2:24: 'stop.max_iterations' must be a whole number"
printf '%s\noutput: {draws: 100000000000000}\n' "$good_target" > "$TMP/draws-beyond-memory.yaml"
refused draws-beyond-memory 2 \
  "output.draws.*memory"
printf '%s\nobjective: {grad_samples: 4611686018427387904}\n' "$good_target" > "$TMP/grad-samples-beyond-memory.yaml"
refused grad-samples-beyond-memory 2 "objective.grad_samples.*memory"
printf '%s\nstop: {max_iterations: 18446744073709551615, eval_every: 1}\n' "$good_target" > "$TMP/trace-beyond-memory.yaml"
refused trace-beyond-memory 2 "stop.max_iterations.*memory"

# Empty, blank, not a mapping, binary.
printf '\n  \n# only a comment\n' > "$TMP/blank-run-file.yaml"
refused blank-run-file 2 "blank-run-file.yaml: the run file is empty"
printf '~\n' > "$TMP/null-run-file.yaml"
refused null-run-file 2 "null-run-file.yaml: the run file is empty"
printf -- '- target\n- family\n' > "$TMP/list-run-file.yaml"
refused list-run-file 2 \
  "list-run-file.yaml:1:1: a run file is a mapping of keys like 'target:', got a list"
printf 'target\n' > "$TMP/scalar-run-file.yaml"
refused scalar-run-file 2 "scalar-run-file.yaml:1:1: a run file is a mapping"
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\003\000>\000\001\000\000\000\300\377\377' > "$TMP/binary-run-file.yaml"
refused binary-run-file 2 "binary-run-file.yaml: .*(YAML|NUL|control)"
printf 'target: {plugin: normal}\nseed: 1\000\n' > "$TMP/nul-in-run-file.yaml"
refused nul-in-run-file 2 \
  "nul-in-run-file.yaml: .*"
# UTF-16 (with its byte-order mark) is read as the text it is.
printf '\377\376t\000a\000r\000' > "$TMP/utf16-run-file.yaml"
refused utf16-run-file 2 "utf16-run-file.yaml:1:1: a run file is a mapping of keys like 'target:', got 'tar'"
printf 'target: {plugin: normal}\nseed: \033[31mred\n' > "$TMP/raw-escape.yaml"
refused raw-escape 2 "raw-escape.yaml: YAML syntax error: control characters are not allowed"
# Quoted text may hold an escape sequence; no message passes it to the
# terminal (it becomes '?').
printf 'target: {plugin: normal}\nseed: "\\e[31mred"\n' > "$TMP/quoted-escape.yaml"
refused quoted-escape 2 \
  "quoted-escape.yaml:2:7: 'seed' must be a whole number >= 0, got \"\\?\\[31mred\" \\(in quotes, so text\\)"
if grep -q "$(printf '\033')" "$TMP/err"; then ok 1 "an escape sequence reached the terminal"
else ok 0 "no control character of the file reaches the terminal"; fi
printf 'target: {plugin: normal}\n"\\e[2J\\nx": 1\n' > "$TMP/escape-in-key.yaml"
refused escape-in-key 2 "escape-in-key.yaml:2:1: unknown key '\\?\\[2J x'"

# Bounded depth and size.
awk 'BEGIN { printf "target: {plugin: normal}\nx: "; for (i = 0; i < 100; i++) printf "["; for (i = 0; i < 100; i++) printf "]"; print "" }' > "$TMP/deep-nesting.yaml"
refused deep-nesting 2 "deep-nesting.yaml:2:[0-9]+: nesting deeper than 64 levels"
awk 'BEGIN { printf "target: {plugin: normal, options: "; for (i = 0; i < 70; i++) printf "{a: "; printf "1"; for (i = 0; i < 71; i++) printf "}"; print "" }' > "$TMP/deep-mapping.yaml"
refused deep-mapping 2 "deep-mapping.yaml:1:[0-9]+: nesting deeper than 64 levels"
awk 'BEGIN { print "target: {plugin: normal}"; s = "# padding padding padding padding padding padding padding padding"; for (i = 0; i < 270000; i++) print s }' > "$TMP/huge-run-file.yaml"
refused huge-run-file 2 "huge-run-file.yaml: bigger than the 16 MiB limit"
awk 'BEGIN { printf "target: {plugin: normal}\n"; for (i = 0; i < 20000; i++) printf "k%d: %d\n", i, i }' > "$TMP/many-keys.yaml"
refused many-keys 2 "many-keys.yaml:2:1: unknown key 'k0'"
awk 'BEGIN { printf "target: {plugin: normal}\n"; for (i = 0; i < 5000; i++) printf "x"; print ": 1" }' > "$TMP/long-key.yaml"
refused long-key 2 "long-key.yaml:2:5001: YAML syntax error: could not find expected ':'"
awk 'BEGIN { printf "target: {plugin: normal}\nseed: "; for (i = 0; i < 100000; i++) printf "9"; print "" }' > "$TMP/long-value.yaml"
refused long-value 2 "long-value.yaml:2:7: 'seed' must be a whole number >= 0, got '9{60}\\.\\.\\.'$"

# --set keys are not read by the YAML parser: checked on their own.
printf '%s\n' "$good_target" > "$TMP/good.yaml"
expect_failure "--set key with a control character" 2 \
  "--set 'seed.*': the key holds a control character" run "$TMP/good.yaml" \
  --set "$(printf 'seed\033[2J=1')"
expect_failure "--set key that is not UTF-8" 2 "the key is not UTF-8 text" \
  run "$TMP/good.yaml" --set "$(printf 'optimizer.options.r\361\361=1')"
expect_failure "--set value that is not UTF-8" 2 "--set 'seed=.*': YAML syntax error" \
  run "$TMP/good.yaml" --set "$(printf 'seed=\361\361')"
# A huge max_iterations under a time budget is a plan, not a mistake.
run_vihost run "$TMP/good.yaml" --quiet --set output.dir="$OUT" \
  --set stop.max_iterations=1000000000000000 --set stop.rule=none --set stop.max_seconds=0.2
ok "$status" "a huge max_iterations with stop.max_seconds runs (the trace grows as needed)"
rm -rf "$OUT"
# A folder name that is not UTF-8 (run.yaml holds absolute paths) does
# not keep the outputs from being written.
odd=$(printf '%s/odd\377folder' "$TMP")
mkdir "$odd"
cp "$DATA/normal.json" "$odd/"
printf 'target: {plugin: normal, data: normal.json}\nstop: {max_iterations: 200}\n' > "$odd/r.yaml"
status=0
(cd "$odd" && "$VIHOST" run r.yaml --quiet --set output.dir=out > "$TMP/out" 2> "$TMP/err") || status=$?
ok "$status" "a run from a folder whose name is not UTF-8 finishes"
check "... and its run.yaml shows the odd byte as '?'" grep -q 'odd?folder/normal.json' "$odd/out/run.yaml"

# ------------------------------------------------------------ data files
# data_case NAME TARGET STATUS PATTERN: the data file $TMP/NAME (written
# just before) given to TARGET.
data_case() {
  name=$1 target=$2
  shift 2
  printf 'target: {plugin: %s, data: %s}\n' "$target" "$TMP/$name" > "$TMP/data-$name.yaml"
  refused "data-$name" "$@"
}
printf '{"N": 3, "y": [1.5, 2.' > "$TMP/truncated.json"
data_case truncated.json normal 2 \
  "truncated.json:1:[0-9]+: JSON syntax error"
printf '{"N": 3, "y": [1.5, 2.5e' > "$TMP/truncated-exp.json"
data_case truncated-exp.json normal 2 \
  "truncated-exp.json:1:[0-9]+: JSON syntax error"
printf 'y\n1.5\n2.5e' > "$TMP/truncated.csv"
data_case truncated.csv normal 2 \
  "truncated.csv:3:1: column 'y' value '2.5e' is not a number"
: > "$TMP/empty.json"
data_case empty.json normal 2 "empty.json: the data file is empty"
printf '\n\n  \n' > "$TMP/blank.csv"
data_case blank.csv normal 2 "blank.csv: the data file is empty"
printf '\000\001\002\003\377\376garbage\200' > "$TMP/garbage.json"
data_case garbage.json normal 2 \
  "garbage.json:1(:[0-9]+)?: JSON syntax error"
printf '\177ELF\002\001\001\000\000\000' > "$TMP/garbage.dat"
data_case garbage.dat normal 2 "garbage.dat:"
printf '{"y": [1, 2, "inf"]}' > "$TMP/inf-string.json"
data_case inf-string.json normal 2 \
  "variable 'y' element 3 is not finite"
printf '{"y": [1, 2, 1e999]}' > "$TMP/overflow.json"
data_case overflow.json normal 2 \
  "overflow.json:1:[0-9]+: JSON syntax error: real number overflow"
printf 'y\n1\nNaN\n' > "$TMP/nan.csv"
data_case nan.csv normal 2 "nan.csv:3:1: column 'y' value 'NaN' is not finite"
printf '{"y": [[1, 2], [3]]}' > "$TMP/ragged.json"
data_case ragged.json normal 2 "variable 'y' is ragged"
printf '{"y": [[1, 2, 3]]}' > "$TMP/matrix-for-vector.json"
data_case matrix-for-vector.json normal 3 \
  "target 'normal' .*refused its configuration: 'y' must be a vector"
printf '{"N": 3, "D": 2, "X": [[1, 2], [3, 4]], "y": [0, 1, 1]}' > "$TMP/rows.json"
data_case rows.json logistic 3 \
  "target 'logistic' .*'N' = 3 does not match X, which has 2 rows"
printf '{"N": 3, "D": 2, "X": [1, 2, 3, 4, 5, 6], "y": [0, 1, 1]}' > "$TMP/rank.json"
data_case rank.json logistic 3 \
  "'X' must be an N x D matrix, got an array of rank 1"
printf '{"N": 3, "D": 2, "X": [[1, 2], [3, 4], [5, 6]], "y": [0, 1, 0.5]}' > "$TMP/binary.json"
data_case binary.json logistic 3 \
  "'y' must hold 0 or 1, got y\\[3\\] = 0.5"
printf '{"N": 3.5, "D": 2, "X": [[1, 2], [3, 4], [5, 6]], "y": [0, 1, 1]}' > "$TMP/fraction.json"
data_case fraction.json logistic 3 \
  "'N' must be a whole number"
printf '{"N": 3, "D": 2}' > "$TMP/missing-variable.json"
data_case missing-variable.json logistic 3 "'X'"

mkdir "$TMP/folder.json"
printf 'target: {plugin: normal, data: %s/folder.json}\n' "$TMP" > "$TMP/data-is-folder.yaml"
refused data-is-folder 2 \
  "folder.json: is a folder, not a data file"
printf 'target: {plugin: normal, data: %s/normal.json/x.json}\n' "$DATA" > "$TMP/data-through-file.yaml"
refused data-through-file 2 \
  "normal.json/x.json: cannot open the data file"
# A file that opens but cannot be read (this process's own memory, at
# address 0, gives EIO even to root).
ln -s /proc/self/mem "$TMP/eio.json"
printf 'target: {plugin: normal, data: %s/eio.json}\n' "$TMP" > "$TMP/data-eio.yaml"
refused data-eio 2 "eio.json: cannot read the data file: Input/output error"
cp "$DATA/normal.json" "$TMP/unreadable.json"
chmod 000 "$TMP/unreadable.json"
if cat "$TMP/unreadable.json" >/dev/null 2>&1; then
  ok 0 "# SKIP an unreadable data file (running as root, every file is readable)"
  ok 0 "# SKIP an unreadable data file: no output folder left"
else
  printf 'target: {plugin: normal, data: %s/unreadable.json}\n' "$TMP" > "$TMP/data-unreadable.yaml"
refused data-unreadable 2 \
    "unreadable.json: cannot open the data file: Permission denied"
fi

# ------------------------------------------------------------ output folders
# Each is found before the run: a run of 10^8 iterations would not end
# within the time limit otherwise.
long_run="stop: {max_iterations: 100000000, rule: none}"
touch "$TMP/afile"
printf '%s\n%s\noutput: {dir: %s/afile}\n' "$good_target" "$long_run" "$TMP" > "$TMP/out-file.yaml"
expect_failure "output.dir is an existing file" 2 \
  "cannot write output folder '.*afile': Not a directory" run "$TMP/out-file.yaml"
printf '%s\n%s\noutput: {dir: /proc/vihost-no-such/out}\n' "$good_target" "$long_run" > "$TMP/out-proc.yaml"
expect_failure "output.dir under a folder where nothing can be made" 2 \
  "cannot write output folder '/proc/vihost-no-such/out'" run "$TMP/out-proc.yaml"
printf '%s\n%s\noutput: {dir: /dev/null/out}\n' "$good_target" "$long_run" > "$TMP/out-null.yaml"
expect_failure "output.dir under a device" 2 "cannot write output folder '/dev/null/out'" \
  run "$TMP/out-null.yaml"
printf '%s\n%s\noutput: {dir: %s/..}\n' "$good_target" "$long_run" "$TMP" > "$TMP/out-dots.yaml"
expect_failure "output.dir ending in '..'" 2 "must end in a folder name" run "$TMP/out-dots.yaml"
mkdir "$TMP/readonly"
chmod 555 "$TMP/readonly"
if touch "$TMP/readonly/probe" 2>/dev/null; then
  rm -f "$TMP/readonly/probe"
  ok 0 "# SKIP output.dir in a read-only folder (running as root, every folder is writable)"
else
  printf '%s\n%s\noutput: {dir: %s/readonly/out}\n' "$good_target" "$long_run" "$TMP" > "$TMP/out-ro.yaml"
  expect_failure "output.dir in a read-only folder" 2 "readonly/out.*Permission denied" \
    run "$TMP/out-ro.yaml"
fi
chmod 755 "$TMP/readonly"

# ------------------------------------------------------------ plugin loading
# A plugin file or folder someone else could change is refused unless
# --allow-insecure-plugins; the current folder is never searched.
mkdir "$TMP/plugins"
cp "$FAULTS" "$TMP/plugins/faults.so"
printf 'target: {plugin: %s/plugins/faults.so}\nstop: {max_iterations: 50}\n' "$TMP" \
  > "$TMP/insecure.yaml"
chmod 777 "$TMP/plugins"
refused insecure 3 "faults\\.so: refused: its folder .*/plugins is writable by every user.*--allow-insecure-plugins"
run_vihost list --all --plugin-path "$TMP/plugins"
check "list warns about the plugin in a world-writable folder and leaves it out" \
  grep -q "warning: plugin refused: .*faults\\.so: refused: its folder" "$TMP/err"
check "... its components are not listed" test -z "$(grep fault_target "$TMP/out")"
run_vihost run "$TMP/insecure.yaml" --quiet --allow-insecure-plugins --set output.dir="$OUT"
ok "$status" "--allow-insecure-plugins loads it anyway"
rm -rf "$OUT"
run_vihost check "$TMP/plugins/faults.so" --level 1
check "check refuses it too (exit 3), saying why in its load row" eval \
  '[ "$status" -eq 3 ] && grep -Eq "^plugin +load +FAIL +.*refused: its folder" "$TMP/out"'
run_vihost check "$TMP/plugins/faults.so" --level 1 --allow-insecure-plugins
check "... and checks it with --allow-insecure-plugins" \
  grep -Eq "^plugin +load +pass" "$TMP/out"
chmod 755 "$TMP/plugins"
chmod 664 "$TMP/plugins/faults.so"
refused insecure 3 "faults\\.so: refused: the plugin file is writable by its group"
chmod 644 "$TMP/plugins/faults.so"
if [ "$(id -u)" = 0 ]; then
  chown 65534 "$TMP/plugins/faults.so"
  refused insecure 3 "faults\\.so: refused: the plugin file is owned by another user \\(uid 65534\\)"
  chown 0 "$TMP/plugins/faults.so"
else
  ok 0 "# SKIP a plugin owned by another user (only root can give a file away)"
  ok 0 "# SKIP a plugin owned by another user: no output folder left"
fi
run_vihost run "$TMP/insecure.yaml" --quiet --set output.dir="$OUT"
ok "$status" "the same plugin, safe again, loads"
rm -rf "$OUT"
# The current folder holds a plugin; nothing finds it by name, not even an
# empty entry in VIHOST_PLUGIN_PATH.
mkdir "$TMP/cwd"
cp "$FAULTS" "$TMP/cwd/faults.so"
printf 'target: {plugin: fault_target}\n' > "$TMP/cwd/byname.yaml"
status=0
(cd "$TMP/cwd" && VIHOST_PLUGIN_PATH=":" "$VIHOST" list --all > "$TMP/out" 2>&1) || status=$?
check "list from a folder holding a plugin does not find it" test -z "$(grep fault_target "$TMP/out")"
status=0
(cd "$TMP/cwd" && VIHOST_PLUGIN_PATH="::" "$VIHOST" run byname.yaml --set output.dir="$OUT" \
  > "$TMP/out" 2> "$TMP/err") || status=$?
ok $((status != 3)) "a run there cannot name it: exit 3"
check "... saying no target of that name is in the plugin path" \
  grep -q "no target named 'fault_target' in the plugin path" "$TMP/err"
no_output "plugin in the current folder"

# ------------------------------------------------------------ plugin faults
# fault KIND FAULT STATUS PATTERN [OPTIONS]: the faults plugin's KIND
# component misbehaving with FAULT, the others behaving.
fault() {
  kind=$1 what=$2 want=$3 pattern=$4 extra=${5:-}
  t="{plugin: $FAULTS}" f="{plugin: $FAULTS}" o="{plugin: $FAULTS}"
  opts="{fault: $what$extra}"
  case $kind in
    target) t="{plugin: $FAULTS, options: $opts}" ;;
    family) f="{plugin: $FAULTS, options: $opts}" ;;
    optimizer) o="{plugin: $FAULTS, options: $opts}" ;;
  esac
  printf 'target: %s\nfamily: %s\noptimizer: %s\nstop: {max_iterations: 300}\n' "$t" "$f" "$o" \
    > "$TMP/$kind-$what.yaml"
  refused "$kind-$what" "$want" "$pattern"
}
fault target create 3 \
  "target 'fault_target' \\(.*faults\\.so\\) refused its configuration: asked to fail"
fault family create 3 \
  "family 'fault_family' \\(.*faults\\.so\\) refused its configuration: asked to fail"
fault optimizer create 3 \
  "optimizer 'fault_optimizer' \\(.*faults\\.so\\) refused its configuration: asked to fail"
fault target nan 4 "target 'fault_target': log density is NaN at theta = \\("
fault target inf 4 "target 'fault_target': log density is not finite at theta = \\("
fault target neg_inf 4 "target 'fault_target': log density is not finite at theta = \\("
fault target nan_grad 4 "target 'fault_target': gradient is not finite at theta = \\("
fault target status 4 \
  "target 'fault_target': log_density failed at iteration 0: theta\\[1\\] = .* outside my domain"
fault target huge_dim 3 \
  "target 'fault_target' \\(.*faults\\.so\\) reports 18446744073709551615 as its dimension, more than vihost can hold"
fault family nan_z 4 "family 'fault_family': forward gave a non-finite z \\(element 2 is nan\\)"
fault family inf_z 4 "family 'fault_family': forward gave a non-finite z \\(element 1 is inf\\)"
fault family forward_status 4 "family 'fault_family': forward failed at iteration 0: cannot map"
fault family backward_nan 4 "family 'fault_family': backward gave a non-finite gradient"
fault family entropy_nan 4 "family 'fault_family': entropy gave a non-finite entropy"
fault family init_fails 3 "family 'fault_family': init failed: cannot start"
fault family zero_params 3 \
  "family 'fault_family' \\(.*faults\\.so\\) reports 0 as its number of variational parameters"
fault optimizer nan_lambda 4 \
  "optimizer 'fault_optimizer' produced a non-finite variational parameter.* at iteration 5" ", at: 5"
fault optimizer step_status 4 \
  "optimizer 'fault_optimizer': step failed at iteration 5: cannot step" ", at: 5"

# A fault at some draws only: those draws are redrawn (the fresh ELBO
# estimates' draws one by one, a gradient estimate as a whole), the run
# finishes, and a warning says how many.
printf 'target: {plugin: %s, options: {fault: nan, above: 1.5}}\nfamily: {plugin: %s}\noptimizer: {plugin: %s}\nstop: {max_iterations: 300}\noutput: {dir: %s}\n' \
  "$FAULTS" "$FAULTS" "$FAULTS" "$OUT" > "$TMP/sometimes.yaml"
run_vihost run "$TMP/sometimes.yaml"
ok "$status" "NaN at some draws: they are redrawn and the run finishes"
check "... warning how many draws were redrawn, naming the target and family" \
  grep -Eq "warning: target 'fault_target' with family 'fault_family': [1-9][0-9]* gradient estimates or ELBO draws redrawn" "$TMP/err"
total=$(awk -F, 'NR > 1 { s += $10 } END { print s + 0 }' "$OUT/trace.csv")
check "... and trace.csv counts them ($total)" test "$total" -gt 0
rm -rf "$OUT"

done_testing
