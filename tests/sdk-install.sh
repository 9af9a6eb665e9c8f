#!/bin/sh
# sdk-install.sh — the plugin writer's path on an installed vihost, with
# nothing of the source or build tree in reach: `make install` into a
# staging folder (DESTDIR), then, with only that installation on PATH and
# PKG_CONFIG_PATH, in a folder of its own:
#     vihost new target mymodel DIR && make -C DIR &&
#     vihost check DIR/mymodel.so && vihost run DIR/mymodel.yaml
# (and the same for a family and an optimizer); a deliberately wrong
# gradient fails `vihost check` naming its coordinate; a segfault in create
# is reported by `vihost check`, which exits normally with status 3.
. "$TOP_SRCDIR/tests/lib.sh"

STAGE="$TMP/stage"
# The jobserver of the `make check` around this test is not ours to share.
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL; cd "$TOP_BUILDDIR" &&
      ${MAKE:-make} install DESTDIR="$STAGE") > "$TMP/install.log" 2>&1; then
  ok 1 "make install DESTDIR=... failed:"
  sed 's/^/# /' "$TMP/install.log"
  done_testing
  exit 1
fi
ok 0 "make install DESTDIR=$STAGE"
bin=$(find "$STAGE" -path '*/bin/vihost' -type f | head -n 1)
PREFIX=${bin%/bin/vihost}
echo "# installed prefix: $PREFIX"

for f in bin/vihost include/vihost/plugin.h include/vihost/sdk.h lib/pkgconfig/vihost.pc \
         lib/vihost/plugins/normal.so lib/vihost/plugins/meanfield.so \
         lib/vihost/plugins/adam.so lib/vihost/plugins/bridgestan.so \
         share/man/man1/vihost.1 share/man/man7/vihost-plugins.7 \
         share/doc/vihost/plugins.md; do
  check "installed $f" test -s "$PREFIX/$f"
done
check "no libtool .la files in the plugin folder" \
  test -z "$(find "$PREFIX/lib/vihost/plugins" -name '*.la')"

# From here on: the installation only.  PATH keeps the system's tools.
SRC=$TOP_SRCDIR BUILD=$TOP_BUILDDIR
PATH="$PREFIX/bin:/usr/local/bin:/usr/bin:/bin"
PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig"
export PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR
unset VIHOST_PLUGIN_PATH TOP_SRCDIR MAKEFLAGS MFLAGS MAKELEVEL
VIHOST=vihost
WORK="$TMP/work"
mkdir -p "$WORK" && cd "$WORK" || exit 1

plugindir=$(pkg-config --variable=plugindir vihost)
check "pkg-config names the installed plugin folder" test -s "$plugindir/normal.so"
check "pkg-config --cflags gives the installed headers" \
  test -s "$(pkg-config --cflags vihost | sed 's/^-I//; s/ *$//')/vihost/plugin.h"
run_vihost list
check "the installed vihost finds its installed plugins" \
  grep -Eq "^target +normal +.* /.*/lib/vihost/plugins/normal\\.so$" "$TMP/out"
check "... and nothing of the build tree" test "$(grep -c -F "$BUILD" "$TMP/out")" -eq 0

# kind name: new, make, check, run — each step must succeed.
new_project() {
  kind=$1 name=$2
  run_vihost new "$kind" "$name" "$name-dir"
  ok "$status" "vihost new $kind $name $name-dir"
  make -C "$name-dir" > "$TMP/make.log" 2>&1
  st=$?
  ok $st "make -C $name-dir builds $name.so against the installed SDK"
  [ $st -eq 0 ] || sed 's/^/# /' "$TMP/make.log"
  check "... with the installation's include folder, not the source tree's" \
    test "$(grep -c -F -e "$SRC" -e "$BUILD" "$TMP/make.log")" -eq 0
  run_vihost check "$name-dir/$name.so"
  ok "$status" "vihost check $name-dir/$name.so passes"
  [ "$status" -eq 0 ] || sed 's/^/# /' "$TMP/out"
  run_vihost run "$name-dir/$name.yaml" --set output.dir="$WORK/results-$name"
  ok "$status" "vihost run $name-dir/$name.yaml"
  [ "$status" -eq 0 ] || sed 's/^/# /' "$TMP/err"
}

new_project target mymodel
for f in mymodel.c Makefile mymodel.yaml mymodel.json; do
  check "vihost new target wrote $f" test -s "mymodel-dir/$f"
done
check "the run reports mu and sigma" grep -q "^sigma," "$WORK/results-mymodel/summary.csv"
mu=$(sed -n 's/^mu,\([^,]*\),.*/\1/p' "$WORK/results-mymodel/summary.csv")
echo "# mymodel: posterior mean of mu $mu (the data's mean 1.98333)"
awk -v m="$mu" 'BEGIN { d = m - 1.98333; exit !(m != "" && d * d < 0.15 ^ 2) }'
ok $? "the template model's fit is right: mu near the data's mean"
check "make check runs vihost check" make -C mymodel-dir check
new_project family myfamily
new_project optimizer myoptimizer

# A wrong gradient: the template with the Jacobian's +1 left out of
# d lp / d log_sigma, its second coordinate.
vihost new target badgrad badgrad-dir > /dev/null
sed 's/grad\[1\] = g_sigma \* sigma + 1\.0;/grad[1] = g_sigma * sigma;/' \
  badgrad-dir/badgrad.c > badgrad-dir/edit.c && mv badgrad-dir/edit.c badgrad-dir/badgrad.c
check "the mistake is in the source" grep -q "grad\\[1\\] = g_sigma \\* sigma;" badgrad-dir/badgrad.c
make -C badgrad-dir > /dev/null 2>&1
run_vihost check badgrad-dir/badgrad.so
ok $(( status != 3 )) "vihost check fails a wrong gradient (exit $status)"
check "... naming the worst coordinate" \
  grep -Eq "^target badgrad +gradient +FAIL +worst relative error .* at coordinate 2 \\(log_sigma\\)" \
  "$TMP/out"

# A segfault in create.
vihost new target crashy crashy-dir > /dev/null
sed 's/^    \*self = NULL;$/    *self = NULL;\n    { volatile int *volatile nowhere = NULL; *nowhere = 1; }/' \
  crashy-dir/crashy.c > crashy-dir/edit.c && mv crashy-dir/edit.c crashy-dir/crashy.c
check "the crash is in the source" grep -q "nowhere = 1" crashy-dir/crashy.c
make -C crashy-dir > /dev/null 2>&1
run_vihost check crashy-dir/crashy.so
ok $(( status != 3 )) "vihost check reports a crash in create and exits normally (exit $status)"
check "... as a failed create" \
  grep -Eq "^target crashy +create +FAIL +crashed: signal 11 \\(Segmentation fault\\) during create" \
  "$TMP/out"

# vihost new refuses what it cannot do well.
expect_failure "new never overwrites" 2 "mymodel-dir/mymodel\\.c already exists" \
  new target mymodel mymodel-dir
expect_failure "new refuses a name a component has" 2 "a target named 'normal' exists already" \
  new target normal normal-dir
expect_failure "new refuses a name that is not [a-z][a-z0-9_]*" 2 "'My-Model' cannot name a component" \
  new target My-Model x
expect_failure "new refuses an unknown kind" 2 "usage: vihost new target\\|family\\|optimizer" \
  new widget w w-dir
vihost new target lost lost-dir > /dev/null
PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH=/nonexistent make -C lost-dir > "$TMP/make.log" 2>&1
st=$?
ok $(( st == 0 )) "without vihost.pc the project's make stops"
check "... saying how to point pkg-config at it" grep -q "pkg-config finds no vihost.pc" "$TMP/make.log"

done_testing
