#!/usr/bin/env bash
# Side-by-side benchmark: stock ssh-agent vs broker-agent, same load
# generator (bench/agent/agent_bench.c), same machine, one run.
# Usage: bench/run-agent.sh [BUILDDIR] [SECONDS per measurement, default 5]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${2:-5}
gen=$build/bench/agent-bench
broker=$build/agent/broker-agent
stock=$(command -v ssh-agent)
[ -x "$gen" ] && [ -x "$broker" ] || { echo "build first: ninja -C $build" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

start() { # NAME BINARY -> socket path in $tmp/NAME.sock, pid in $tmp/NAME.pid
	"$2" -D -a "$tmp/$1.sock" >/dev/null 2>&1 &
	echo $! >"$tmp/$1.pid"
	pids+=($!)
	for _ in $(seq 100); do [ -S "$tmp/$1.sock" ] && return 0; sleep 0.05; done
	echo "agent $1 did not start" >&2; exit 1
}
field() { sed -nE "s/.*$1=([0-9]+).*/\\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

printf '%-34s %22s %22s %8s\n' "measurement (${secs}s each)" "ssh-agent" "broker-agent" "ratio"
n=0
row() { # LABEL then "sign TYPE CLIENTS [VERIFY_EVERY]" args
	local label=$1; shift
	local s b
	n=$((n + 1))
	start "stock$n" "$stock"
	s=$("$gen" "$1" "$tmp/stock$n.sock" "${@:2}")
	start "broker$n" "$broker"
	b=$("$gen" "$1" "$tmp/broker$n.sock" "${@:2}")
	local sr br
	sr=$(field rate <<<"$s"); br=$(field rate <<<"$b")
	printf '%-34s %10s/s p99 %5.1fms %10s/s p99 %5.1fms %8s\n' "$label" "$sr" \
		"$(awk -v u="$(field p99_us <<<"$s")" 'BEGIN{print u/1000}')" "$br" \
		"$(awk -v u="$(field p99_us <<<"$b")" 'BEGIN{print u/1000}')" "$(ratio "$br" "$sr")"
	for x in "$s" "$b"; do [ "$(field errors <<<"$x")" = 0 ] || { echo "signature errors: $x" >&2; exit 1; }; done
}
row "Ed25519 sign, 16 clients" sign ed25519 16 "$secs"
row "Ed25519 sign, 64 clients" sign ed25519 64 "$secs"
row "Ed25519 sign, 64 cl., verify 1/16" sign ed25519 64 "$secs" 16
row "ECDSA P-256 sign, 16 clients" sign ecdsa 16 "$secs"
row "ECDSA P-256 sign, 64 clients" sign ecdsa 64 "$secs"
row "RSA-3072 sign, 16 clients" sign rsa-3072 16 "$secs"
ossl=$("$gen" openssl-rsa 3072 "$(nproc)" "$secs" | field rate)
printf '%-34s %22s %10s/s\n' "RSA-3072, OpenSSL alone ($(nproc) thr)" "" "$ossl"

# Listing 1,000 keys, and resident memory with them loaded.
start list-stock "$stock"; start list-broker "$broker"
"$gen" load "$tmp/list-stock.sock" 1000
"$gen" load "$tmp/list-broker.sock" 1000
s=$("$gen" list "$tmp/list-stock.sock" 16 "$secs" 1000)
b=$("$gen" list "$tmp/list-broker.sock" 16 "$secs" 1000)
printf '%-34s %10s/s p99 %5.1fms %10s/s p99 %5.1fms %8s\n' "list 1,000 keys, 16 clients" \
	"$(field rate <<<"$s")" "$(awk -v u="$(field p99_us <<<"$s")" 'BEGIN{print u/1000}')" \
	"$(field rate <<<"$b")" "$(awk -v u="$(field p99_us <<<"$b")" 'BEGIN{print u/1000}')" \
	"$(ratio "$(field rate <<<"$b")" "$(field rate <<<"$s")")"
rs=$(rss_kb "$(cat "$tmp/list-stock.pid")"); rb=$(rss_kb "$(cat "$tmp/list-broker.pid")")
printf '%-34s %19s MB %19s MB %8s\n' "RSS with 1,000 keys" "$((rs / 1024))" "$((rb / 1024))" "$(ratio "$rb" "$rs")"

# A slow RSA-4096 load must not stall Ed25519 clients of the same agent.
for which in stock broker; do
	bin=$stock; [ $which = broker ] && bin=$broker
	start mix-$which "$bin"
	"$gen" sign "$tmp/mix-$which.sock" rsa-4096 8 "$secs" >"$tmp/mix-rsa-$which" &
	rsa=$!
	sleep 1.5
	"$gen" sign "$tmp/mix-$which.sock" ed25519 16 "$((secs > 3 ? secs - 3 : 1))" >"$tmp/mix-ed-$which"
	wait $rsa
done
printf '%-34s %10s/s p99 %5.1fms %10s/s p99 %5.1fms %8s\n' "Ed25519 16 cl. during RSA-4096 load" \
	"$(field rate <"$tmp/mix-ed-stock")" "$(awk -v u="$(field p99_us <"$tmp/mix-ed-stock")" 'BEGIN{print u/1000}')" \
	"$(field rate <"$tmp/mix-ed-broker")" "$(awk -v u="$(field p99_us <"$tmp/mix-ed-broker")" 'BEGIN{print u/1000}')" \
	"$(ratio "$(field rate <"$tmp/mix-ed-broker")" "$(field rate <"$tmp/mix-ed-stock")")"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
