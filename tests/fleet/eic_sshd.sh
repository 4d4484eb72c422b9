#!/bin/bash
# EC2 Instance Connect end to end: push -> emulated instance metadata ->
# sshd's AuthorizedKeysCommand (broker authorized-keys) -> login, with a
# real sshd and ssh.  The emulator signs entries with a test PKI (openssl
# CLI) and serves OCSP staples.
. "$KB_TESTLIB/common.sh"
set -e
if [ "$(id -u)" -ne 0 ]; then
	# sshd insists the command and every directory above it be root-owned.
	echo "SKIP: AuthorizedKeysCommand needs a root-owned path (run as root)"
	exit 77
fi
kb_tmpdir T
HERE=$KB_SOURCE_ROOT/tests/fleet
INSTANCE=i-0123456789abcdef0
ME=$(id -un)

"$HERE/eic_ca.sh" "$T/pki"
python3 "$HERE/eic_emulator.py" --ca-dir "$T/pki" --instance-id "$INSTANCE" --instance-id i-0aaaaaaaaaaaaaaaa \
	--port-file "$T/emu.port" 2>"$T/emu.log" &
kb_cleanup_add "kill $!"
for _ in $(seq 100); do [ -s "$T/emu.port" ] && break; sleep 0.05; done
EMU=http://127.0.0.1:$(cat "$T/emu.port")
emu() { curl -sf -X POST --data "$2" "$EMU/_emu/$1" >/dev/null || kb_fail "emulator control $1"; }

# The broker binary as sshd will run it: sshd wants the command and every
# directory above it root-owned and not group/world-writable.  The build tree
# may sit under /tmp (CI clones anywhere), so copy it below /run, which is
# root-owned on every Debian system.
BIN=$(mktemp -d /run/keybroker-eic-test.XXXXXX)
chmod 0755 "$BIN"
kb_cleanup_add "rm -rf '$BIN'"
install -m 0755 "$BROKER" "$BIN/broker"
kb_sshd_start "$T/sshd" \
	"AuthorizedKeysCommand $BIN/broker authorized-keys --imds-endpoint $EMU --ca-file $T/pki/root.pem %u %f" \
	"AuthorizedKeysCommandUser $ME"

# Pushes go through `broker ec2 push` (SigV4-signed; moto checks the
# signature in ec2_push.sh, the emulator only its presence).
push() { # PUBFILE [USER] [INSTANCE]
	AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator AWS_REGION=eu-west-1 \
		AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=$EMU \
		"$BROKER" ec2 push --no-cache --instance-id "${3:-$INSTANCE}" --os-user "${2:-$ME}" --key "$1" >/dev/null ||
		kb_fail "push of $1 failed"
}
login() { kb_ssh -o IdentitiesOnly=yes -o IdentityAgent=none -i "$1" "$ME@127.0.0.1" true 2>>"$T/ssh.err"; }

for k in a b c d e; do ssh-keygen -q -t ed25519 -N '' -C "eic-$k" -f "$T/$k"; done

# No key pushed: refused; nothing printed by the helper.
login "$T/a" && kb_fail "login without a pushed key"
[ -z "$("$BIN/broker" authorized-keys --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME")" ] || kb_fail "output without keys"
kb_pass "no pushed key: refused"

# A pushed key is admitted (and only for the fingerprint sshd asks about).
push "$T/a.pub"
login "$T/a" || kb_fail "pushed key refused: $(tail -5 "$SSHD_LOG")"
login "$T/b" && kb_fail "a key that was not pushed got in"
fp=$(ssh-keygen -lf "$T/a.pub" | cut -d' ' -f2)
"$BIN/broker" authorized-keys --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME" "$fp" >"$T/out"
grep -q "eic-a" "$T/out" || kb_fail "fingerprint filter dropped the key"
fpb=$(ssh-keygen -lf "$T/b.pub" | cut -d' ' -f2)
[ -z "$("$BIN/broker" authorized-keys --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME" "$fpb")" ] || kb_fail "fingerprint filter"
kb_pass "pushed key admitted by sshd"

# After its 60 s: refused.  The emulator stamps the entry 61 s in the past
# and keeps serving it, so the refusal is the host helper's own expiry check.
emu config '{"clock_offset": -61, "keep_expired": true}'
push "$T/c.pub"
emu config '{"clock_offset": 0}'
login "$T/c" && kb_fail "an expired entry was admitted"
# Same entry, still inside its window: admitted (the control case).
emu config '{"clock_offset": -55}'
push "$T/d.pub"
emu config '{"clock_offset": 0}'
login "$T/d" || kb_fail "an entry 55 s old was refused"
kb_pass "entry refused after 60 s"

# A real wait with a short lifetime: admitted, then refused once it lapses.
emu config '{"lifetime": 3, "keep_expired": true}'
push "$T/e.pub"
login "$T/e" || kb_fail "short-lived key refused while valid"
sleep 4
login "$T/e" && kb_fail "short-lived key admitted after expiry"
emu config '{"lifetime": 60}'
kb_pass "lifetime lapses in real time"

# A bad signature: refused.  So is an entry for another instance.
emu reset '{}'
emu config '{"tamper": 1}'
push "$T/b.pub"
login "$T/b" && kb_fail "entry with a bad signature admitted"
push "$T/b.pub" "$ME" i-0aaaaaaaaaaaaaaaa
login "$T/b" && kb_fail "entry for another instance admitted"
kb_pass "bad signature and foreign instance refused"

# The signer chain: wrong trust anchor, revoked signer, missing staple,
# wrong CN.  Each refuses every key, with nothing on stdout.
push "$T/a.pub"
login "$T/a" || kb_fail "control login failed"
for cfg in '{"ocsp_dir": "'"$T"'/pki/ocsp-revoked"}' '{"ocsp_dir": "'"$T"'/empty"}' \
	'{"ocsp_dir": null, "chain": "'"$T"'/pki/rogue-chain.pem"}' '{"chain": "'"$T"'/pki/wrongcn-chain.pem"}'; do
	mkdir -p "$T/empty"
	emu config "$cfg"
	login "$T/a" && kb_fail "admitted with $cfg"
	out=$("$BIN/broker" authorized-keys --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME" 2>/dev/null) && kb_fail "exit 0 with $cfg"
	[ -z "$out" ] || kb_fail "printed keys with $cfg"
done
emu config '{"ocsp_dir": null, "chain": null}'
login "$T/a" || kb_fail "login failed after restoring the chain"
kb_pass "untrusted, revoked, unstapled and misnamed signers refused"

# Never hangs sshd: a metadata service that accepts and never answers.
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(5); open(sys.argv[1],"w").write(str(s.getsockname()[1])); time.sleep(60)' "$T/hang.port" &
kb_cleanup_add "kill $!"
for _ in $(seq 100); do [ -s "$T/hang.port" ] && break; sleep 0.05; done
start=$(date +%s%N)
out=$("$BIN/broker" authorized-keys --imds-endpoint "http://127.0.0.1:$(cat "$T/hang.port")" "$ME" 2>/dev/null) && kb_fail "hanging IMDS: exit 0"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ -z "$out" ] && [ "$ms" -le 5500 ] || kb_fail "hanging IMDS: ${ms} ms, output '$out'"
echo "# hanging metadata service: gave up after ${ms} ms"
# Bad user names never reach the URL; unknown users get nothing, exit 0.
"$BIN/broker" authorized-keys --imds-endpoint "$EMU" "../x" >/dev/null 2>&1 && kb_fail "user ../x accepted"
[ -z "$("$BIN/broker" authorized-keys --imds-endpoint "$EMU" nosuchuser_kb)" ] || kb_fail "unknown user"
kb_pass "deadline and user name checks"
