#!/usr/bin/env bash
# fuzz.sh [FUZZTIME [REGEXP]] — runs every fuzz target of the module for
# FUZZTIME each (a go test -fuzztime value: 5s, 10000x), starting from its
# committed corpus (the package's testdata/fuzz/<Target>/) and the seeds in
# its code, never from inputs an earlier run cached. Targets are found, not
# listed: every func FuzzXxx(f *testing.F) in a _test.go file of a package
# `go list ./...` knows. With REGEXP, only the targets whose
# "import/path.FuzzXxx" matches run.
#
# Each package's test binary is built once (go test runs one fuzz target at
# a time and would link it again for each). A failing input is written to
# the package's testdata/fuzz/<Target>/: fix the code, and commit the input
# as a corpus entry. Every target runs even when one fails; the exit status
# says whether any did.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
only=${2:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
ran=0
failed=()
while read -r dir pkg; do
  targets=()
  for t in $(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' | sort -u); do
    if [ -z "$only" ] || [[ "$pkg.$t" =~ $only ]]; then
      targets+=("$t")
    fi
  done
  [ "${#targets[@]}" -gt 0 ] || continue
  bin=$work/$ran.test
  t0=$SECONDS
  if ! go test -c -fuzz=. -o "$bin" "$pkg"; then
    echo "fuzz: $pkg does not build"
    failed+=("$pkg")
    continue
  fi
  echo "fuzz: $pkg built ($((SECONDS - t0))s)"
  for t in "${targets[@]}"; do
    t0=$SECONDS
    corpus=$(ls "$dir/testdata/fuzz/$t" 2>/dev/null || true)
    if (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$t\$" -test.fuzztime="$fuzztime" \
      -test.fuzzcachedir="$work/cache/$pkg" -test.timeout=10m) >"$work/log" 2>&1; then
      echo "fuzz: $pkg $t ok ($((SECONDS - t0))s)"
    elif grep -q '^    context deadline exceeded$' "$work/log" && [ "$(ls "$dir/testdata/fuzz/$t" 2>/dev/null || true)" = "$corpus" ]; then
      # Go's coordinator can report the end of a timed run as this error
      # (go.dev/issue/75804, fixed in Go 1.27): no input failed, none was
      # written. Drop this once the toolchain is 1.27 or later.
      echo "fuzz: $pkg $t ok ($((SECONDS - t0))s; Go's end-of-fuzztime race, go.dev/issue/75804: no failing input)"
    else
      cat "$work/log"
      echo "fuzz: $pkg $t FAILED ($((SECONDS - t0))s)"
      failed+=("$pkg.$t")
    fi
    ran=$((ran + 1))
  done
done < <(go list -f '{{.Dir}} {{.ImportPath}}' ./...)

echo "fuzz: $ran targets, $fuzztime each, in $((SECONDS - start))s"
if [ "$ran" -eq 0 ]; then
  echo "fuzz: no target matches ${only:-anything}" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
