#!/bin/sh
# errors.sh — every bad input gives one clear line, the exit status of
# DESIGN.md, and no output folder.
. "$TOP_SRCDIR/tests/lib.sh"

OUT="$TMP/results"
# no_output DESCRIPTION: the run left no output folder (and no staging one).
no_output() {
  if [ ! -e "$OUT" ] && ! ls -A "$TMP" | grep -q '^\.results\.vihost-'; then
    ok 0 "$1: no output folder left"
  else
    ok 1 "$1: an output folder was left behind"
    rm -rf "$OUT"
  fi
}

good_target="target: {plugin: normal, data: $DATA/normal.json}"

printf 'vihost: 1\nseed: [1, 2\n%s\noutput: {dir: %s}\n' "$good_target" "$OUT" > "$TMP/syntax.yaml"
expect_failure "YAML syntax error names file:line:column" 2 \
  "syntax.yaml:[0-9]+:[0-9]+: .*YAML" run "$TMP/syntax.yaml"
no_output "syntax error"

printf 'vihost: 1\nsed: 3\n%s\noutput: {dir: %s}\n' "$good_target" "$OUT" > "$TMP/typo.yaml"
expect_failure "misspelled key 'sed' is placed and 'seed' suggested" 2 \
  "typo.yaml:2:1: .*'sed'.*did you mean 'seed'" run "$TMP/typo.yaml"
no_output "misspelled key"

printf '%s\nstop: {max_iterations: ten}\noutput: {dir: %s}\n' "$good_target" "$OUT" > "$TMP/type.yaml"
expect_failure "wrong type names its position" 2 \
  "type.yaml:2:24: .*max_iterations" run "$TMP/type.yaml"
no_output "wrong type"

printf '%s\nobjective: {grad_samples: 0}\noutput: {dir: %s}\n' "$good_target" "$OUT" > "$TMP/range.yaml"
expect_failure "out-of-range value names its position" 2 \
  "range.yaml:2:27: .*grad_samples" run "$TMP/range.yaml"
no_output "out of range"

printf 'family: {plugin: meanfield}\noutput: {dir: %s}\n' "$OUT" > "$TMP/notarget.yaml"
expect_failure "missing target is named" 2 "notarget.yaml:.*'target'" run "$TMP/notarget.yaml"
no_output "missing target"

printf 'target: {plugin: normal, data: %s/normal.json, options: {sigam: 2}}\noutput: {dir: %s}\n' \
  "$DATA" "$OUT" > "$TMP/option.yaml"
expect_failure "unknown plugin option suggests the nearest" 2 \
  "option.yaml:1:[0-9]+: .*'sigam'.*'sigma'" run "$TMP/option.yaml"
no_output "unknown option"

printf '%s\noptimizer: {plugin: adam, options: {learning_rate: -1}}\noutput: {dir: %s}\n' \
  "$good_target" "$OUT" > "$TMP/optrange.yaml"
expect_failure "plugin option out of its table's range" 2 \
  "optrange.yaml:2:[0-9]+: .*learning_rate" run "$TMP/optrange.yaml"
no_output "option out of range"

printf 'target: {plugin: logistic, data: %s/logistic.json, options: {prior_scale: wide}}\noutput: {dir: %s}\n' \
  "$DATA" "$OUT" > "$TMP/opttype.yaml"
expect_failure "plugin option of the wrong type" 2 \
  "opttype.yaml:1:[0-9]+: .*prior_scale" run "$TMP/opttype.yaml"
no_output "option type"

printf 'target: {plugin: normal, data: %s/missing.json}\noutput: {dir: %s}\n' "$TMP" "$OUT" > "$TMP/nodata.yaml"
expect_failure "missing data file is named" 2 "missing.json" run "$TMP/nodata.yaml"
no_output "missing data file"

printf '{"N": 3,\n "y": [1, 2, oops]}\n' > "$TMP/bad.json"
printf 'target: {plugin: normal, data: %s/bad.json}\noutput: {dir: %s}\n' "$TMP" "$OUT" > "$TMP/baddata.yaml"
expect_failure "data syntax error names file:line:column" 2 "bad.json:2:[0-9]+" run "$TMP/baddata.yaml"
no_output "bad data file"

printf '{"N": 3, "D": 2}\n' > "$TMP/partial.json"
printf 'target: {plugin: logistic, data: %s/partial.json}\noutput: {dir: %s}\n' "$TMP" "$OUT" > "$TMP/novar.yaml"
expect_failure "a missing data variable is named by the plugin" 3 "logistic.*'X'" run "$TMP/novar.yaml"
no_output "missing data variable"

printf 'target: {plugin: no_such_model}\noutput: {dir: %s}\n' "$OUT" > "$TMP/noplugin.yaml"
expect_failure "an unknown component name" 3 "no target named 'no_such_model'" run "$TMP/noplugin.yaml"
no_output "unknown component"

printf 'target: {plugin: %s/abi_major2.so}\noutput: {dir: %s}\n' "$TEST_PLUGINS" "$OUT" > "$TMP/major.yaml"
expect_failure "a plugin built for ABI 2 is refused, naming both versions and the file" 3 \
  "abi_major2\\.so: built for vihost ABI 2\\.0.*ABI 1\\.0" run "$TMP/major.yaml"
no_output "ABI major 2"

printf 'target: {plugin: %s/no_entry.so}\noutput: {dir: %s}\n' "$TEST_PLUGINS" "$OUT" > "$TMP/noentry.yaml"
expect_failure "a plugin without the entry symbol is refused" 3 \
  "no_entry\\.so: no symbol 'vi_plugin_entry'" run "$TMP/noentry.yaml"
no_output "no entry symbol"

printf 'target: {plugin: %s/bad_descriptor.so}\noutput: {dir: %s}\n' "$TEST_PLUGINS" "$OUT" > "$TMP/baddesc.yaml"
expect_failure "a malformed descriptor is refused, naming the member" 3 \
  "bad_descriptor\\.so: target 'broken_target' is malformed.*log_density" run "$TMP/baddesc.yaml"
no_output "malformed descriptor"

printf '%s\nfamily: {plugin: %s/duplicate_name.so}\noutput: {dir: %s}\n' \
  "$good_target" "$TEST_PLUGINS" "$OUT" > "$TMP/dup.yaml"
expect_failure "a duplicate component name is refused, naming both files" 3 \
  "duplicate_name\\.so: component name 'normal' is already taken by .*normal\\.so" run "$TMP/dup.yaml"
no_output "duplicate name"

printf 'target: {plugin: %s/nan_target.so}\noutput: {dir: %s}\n' "$TEST_PLUGINS" "$OUT" > "$TMP/nan.yaml"
expect_failure "a log density that is NaN everywhere stops the run, naming the component and the point" 4 \
  "nan_target.*NaN at theta = \\(" run "$TMP/nan.yaml"
no_output "NaN log density"

touch "$TMP/afile"
printf '%s\noutput: {dir: %s/afile/out}\n' "$good_target" "$TMP" > "$TMP/unwritable.yaml"
expect_failure "an output folder that cannot be written is found before the run" 2 \
  "afile/out" run "$TMP/unwritable.yaml"

printf '%s\noutput: {dir: %s}\n' "$good_target" "$OUT" > "$TMP/good.yaml"
expect_failure "--set with an unknown key suggests the nearest" 2 "tolerence.*tolerance" \
  run "$TMP/good.yaml" --set stop.tolerence=0.1
no_output "--set unknown key"
expect_failure "--set with a value of the wrong type" 2 "seed" run "$TMP/good.yaml" --set seed=abc
no_output "--set wrong type"
expect_failure "--set without '='" 2 "--set" run "$TMP/good.yaml" --set seed
expect_failure "an unknown command" 2 "unknown command 'fly'" fly
expect_failure "an unknown option" 2 "unknown option '--fast'" run "$TMP/good.yaml" --fast
expect_failure "run without a file" 2 "run needs a run file" run
expect_failure "a run file that does not exist" 2 "nope.yaml" run "$TMP/nope.yaml"
: > "$TMP/empty.yaml"
expect_failure "an empty run file" 2 "empty.yaml" run "$TMP/empty.yaml"
no_output "empty run file"

done_testing
