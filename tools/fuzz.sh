#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target (each func Fuzz* in a _test.go file)
# for SECONDS (default 30) in turn, and prints the executions of each and
# a summary table. A new interesting input is minimised for at most
# FUZZ_MINIMIZE (default 5s) instead of Go's 60 s, so that short runs
# fuzz rather than minimise. Exits 1 if a target failed; Go leaves the
# failing input under that package's testdata/fuzz/<target>/, where the
# package's tests then run it as a seed (add it to the commit that fixes
# the bug).
#
#   tools/fuzz.sh [SECONDS]
#
# Environment: FUZZ_MINIMIZE, FUZZ_PARALLEL (workers per target; Go's
# default is GOMAXPROCS), FUZZ_MATCH (a regexp: only the targets whose
# name matches).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
minimize=${FUZZ_MINIMIZE:-5s}
match=${FUZZ_MATCH:-.}
parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel "$FUZZ_PARALLEL")
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# package directory and target name, one pair a line, in file order.
targets=$(grep -rEo --include='*_test.go' --exclude-dir=node_modules --exclude-dir=testdata '^func Fuzz[A-Za-z0-9_]*' . |
	sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)$|\1 \2|' | sort | awk -v m="$match" '$2 ~ m')
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz target matches $match" >&2
	exit 1
fi

failed=0
rows=()
while read -r dir name; do
	log="$logs/$name.log"
	start=$SECONDS
	rc=0
	go test -run '^$' -fuzz "^$name\$" -fuzztime "${secs}s" -fuzzminimizetime "$minimize" "${parallel[@]}" "./$dir/" >"$log" 2>&1 || rc=$?
	# Go 1.26's fuzz coordinator can fail a target at the -fuzztime
	# boundary with a bare "context deadline exceeded" and no failing
	# input (a race between the deadline and its workers' context,
	# golang/go#75804, fixed in Go 1.27). Such a run found nothing: run
	# the target once more, and fail if that run fails in any way.
	if [ "$rc" != 0 ] && ! grep -q 'Failing input written to' "$log" &&
		grep -qx '    context deadline exceeded' "$log" && [ "$(grep -c -- '--- FAIL' "$log")" = 1 ]; then
		echo "--- $dir $name: the Go fuzz coordinator's deadline race (golang/go#75804, no failing input); running it again"
		rc=0
		go test -run '^$' -fuzz "^$name\$" -fuzztime "${secs}s" -fuzzminimizetime "$minimize" "${parallel[@]}" "./$dir/" >"$log" 2>&1 || rc=$?
	fi
	# The last progress line: "fuzz: elapsed: 10s, execs: 81234 (8012/sec), new interesting: ..."
	execs=$(sed -nE 's/^fuzz: elapsed: .*, execs: ([0-9]+) .*/\1/p' "$log" | tail -1)
	result=ok
	if [ "$rc" != 0 ]; then
		failed=1
		crasher=$(sed -nE 's|.*Failing input written to (testdata/fuzz/[^ ]*).*|\1|p' "$log" | tail -1)
		result="FAIL${crasher:+ ($dir/$crasher)}"
		echo "--- $dir $name failed; its output ends:"
		tail -n 30 "$log" | sed 's/^/    /'
	fi
	printf '%-22s %-14s %12s execs  %4ss  %s\n' "$name" "$dir" "${execs:-?}" "$((SECONDS - start))" "$result"
	rows+=("$(printf '| %s | %s | %s | %s |' "$name" "$dir" "${execs:-?}" "$result")")
done <<<"$targets"

echo
echo "fuzzing ${secs}s a target (minimising at most $minimize):"
echo "| target | package | execs | result |"
echo "| --- | --- | ---: | --- |"
printf '%s\n' "${rows[@]}"
exit "$failed"
