#!/usr/bin/env bash
# Times `broker rotate` of one static credential across real sshds on
# 127.0.0.1: the whole job (create, set, test, promote, remove) with
# --parallel 1 and --parallel N, ROUNDS times each (median and min printed).
#
#   bench/rotate/run.sh [BUILD_DIR] [HOSTS] [ROUNDS]     (defaults: build 3 7)
#
# On 127.0.0.1 the cost is mostly SSH handshakes (CPU: two logins per host
# per rotation), so the parallel gain is bounded by the cores; over a real
# network the round trips overlap too.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
NH=${2:-3}
ROUNDS=${3:-7}
export BROKER=$BUILD/broker/broker KB_TESTLIB=$ROOT/tests/lib KB_SOURCE_ROOT=$ROOT
. "$KB_TESTLIB/common.sh"
set +u
. "$ROOT/tests/rotate/lib.sh"
kb_tmpdir D
rot_setup "$D"
NHOSTS=$NH
rot_hosts "$D" "$NH"
rot_targets
CRED=keybroker/static/bench
"$BROKER" static create bench "${TARGETS[@]}" >/dev/null
for ((i = 1; i <= NH; i++)); do "$BROKER" store get "$CRED" --field public_key >"$D/h$i/keys/$ME.keys"; done

ms() { echo $(( $(date +%s%N) / 1000000 )); }
run() { # PARALLEL -> prints ms per rotation, sorted
	local p=$1 r t0 t1
	for ((r = 0; r < ROUNDS; r++)); do
		t0=$(ms)
		"$BROKER" -q rotate --credential bench "${HOSTOPTS[@]}" --parallel "$p" >/dev/null 2>&1 ||
			{ echo "rotation failed" >&2; exit 1; }
		t1=$(ms)
		echo $((t1 - t0))
	done | sort -n
}
report() { # LABEL
	local a
	mapfile -t a
	printf '%-34s median %5d ms   min %5d ms   (%d rounds)\n' "$1" "${a[$((${#a[@]} / 2))]}" "${a[0]}" "${#a[@]}"
}
echo "broker rotate, one credential, $NH hosts (sshd on 127.0.0.1, curve25519-sha256), $(nproc) cores"
run 1 | report "--parallel 1"
run "$NH" | report "--parallel $NH"
rot_converged "after the benchmark" && echo "converged: every host holds exactly the current key"
