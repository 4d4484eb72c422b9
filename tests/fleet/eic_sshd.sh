#!/bin/bash
# EC2 Instance Connect end to end: push -> emulated instance metadata ->
# sshd's AuthorizedKeysCommand (broker authorized-keys) -> login, with a
# real sshd and ssh.  The emulator signs entries with a test PKI (openssl
# CLI) and serves OCSP staples.  The helper trusts the metadata only on an
# EC2 instance: fake sysfs trees (--sysfs-root) say whether this is one.
# Last, the whole path from `broker issue --push-ec2` and `broker ec2 push
# --role`: issued key in the agent -> pushed -> sshd -> login.
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
# Fake sysfs trees: Nitro (asset tag = this instance), Xen (hypervisor uuid
# ec2...), another hypervisor, nothing, and a Nitro tag of another instance.
mk() { mkdir -p "$(dirname "$T/$1")"; printf '%s\n' "$2" >"$T/$1"; }
mk sys-nitro/sys/devices/virtual/dmi/id/board_asset_tag "$INSTANCE"
mk sys-xen/sys/hypervisor/uuid ec2e1916-9099-7caf-fd21-012345abcdef
mk sys-xen/sys/devices/virtual/dmi/id/board_asset_tag i-0aaaaaaaaaaaaaaaa
mk sys-other/sys/hypervisor/uuid 4b2e1916-9099-7caf-fd21-012345abcdef
mk sys-other/sys/devices/virtual/dmi/id/board_asset_tag "$INSTANCE"
mkdir -p "$T/sys-none/sys"
mk sys-wrongtag/sys/devices/virtual/dmi/id/board_asset_tag i-0aaaaaaaaaaaaaaaa
mk sys-wrongtag/sys/devices/virtual/dmi/id/product_uuid EC2AE145-D1DC-13B2-94ED-01234ABCDEF
sysfs() { ln -sfn "$T/sys-$1" "$T/sysfs"; }
sysfs nitro
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
	"AuthorizedKeysCommand $BIN/broker authorized-keys --sysfs-root $T/sysfs --imds-endpoint $EMU --ca-file $T/pki/root.pem %u %f" \
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
[ -z "$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME")" ] || kb_fail "output without keys"
kb_pass "no pushed key: refused"

# A pushed key is admitted (and only for the fingerprint sshd asks about).
push "$T/a.pub"
login "$T/a" || kb_fail "pushed key refused: $(tail -5 "$SSHD_LOG")"
login "$T/b" && kb_fail "a key that was not pushed got in"
fp=$(ssh-keygen -lf "$T/a.pub" | cut -d' ' -f2)
"$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME" "$fp" >"$T/out"
grep -q "eic-a" "$T/out" || kb_fail "fingerprint filter dropped the key"
fpb=$(ssh-keygen -lf "$T/b.pub" | cut -d' ' -f2)
[ -z "$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME" "$fpb")" ] || kb_fail "fingerprint filter"
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
	out=$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" "$ME" 2>/dev/null) && kb_fail "exit 0 with $cfg"
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
out=$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "http://127.0.0.1:$(cat "$T/hang.port")" "$ME" 2>/dev/null) && kb_fail "hanging IMDS: exit 0"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ -z "$out" ] && [ "$ms" -le 5500 ] || kb_fail "hanging IMDS: ${ms} ms, output '$out'"
echo "# hanging metadata service: gave up after ${ms} ms"
# Bad user names never reach the URL; unknown users get nothing, exit 0.
"$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" "../x" >/dev/null 2>&1 && kb_fail "user ../x accepted"
[ -z "$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" nosuchuser_kb)" ] || kb_fail "unknown user"
kb_pass "deadline and user name checks"

# Only on an EC2 instance: another hypervisor, no evidence at all, or a
# Nitro asset tag naming another instance: nothing offered, exit 0, and a
# log line saying why.  Xen and Nitro evidence: admitted.
push "$T/a.pub"
for tree in nitro xen; do
	sysfs $tree
	login "$T/a" || kb_fail "$tree: pushed key refused: $(tail -5 "$SSHD_LOG")"
done
for tree in other none wrongtag; do
	sysfs $tree
	login "$T/a" && kb_fail "admitted on a machine that is not this EC2 instance ($tree)"
	out=$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" \
		"$ME" 2>"$T/ak.err") || kb_fail "$tree: exit $?"
	[ -z "$out" ] || kb_fail "$tree: printed '$out'"
	grep -q "not an EC2 instance\|not this EC2 instance" "$T/ak.err" || kb_fail "$tree: log $(cat "$T/ak.err")"
done
# Not an instance: the metadata service is not even asked, so a hanging one
# costs nothing.
sysfs other
start=$(date +%s%N)
out=$("$BIN/broker" authorized-keys --sysfs-root "$T/sysfs" --imds-endpoint "http://127.0.0.1:$(cat "$T/hang.port")" \
	"$ME" 2>/dev/null) || kb_fail "not EC2 with a hanging IMDS: exit $?"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ -z "$out" ] && [ "$ms" -lt 1000 ] || kb_fail "not EC2 with a hanging IMDS: ${ms} ms, output '$out'"
# BROKER_SYSFS_ROOT does what --sysfs-root does.
[ -z "$(BROKER_SYSFS_ROOT=$T/sys-none "$BIN/broker" authorized-keys --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" \
	"$ME" 2>/dev/null)" ] || kb_fail "BROKER_SYSFS_ROOT (not EC2) ignored"
BROKER_SYSFS_ROOT=$T/sys-nitro "$BIN/broker" authorized-keys --imds-endpoint "$EMU" --ca-file "$T/pki/root.pem" \
	"$ME" 2>/dev/null | grep -q eic-a || kb_fail "BROKER_SYSFS_ROOT (Nitro) ignored"
sysfs nitro
kb_pass "metadata trusted only on this EC2 instance (Xen uuid, Nitro asset tag), not elsewhere"

# The whole path: `broker issue --push-ec2` issues a credential, loads the
# agent (certificate and plain key) and pushes; ssh through the agent gets
# in via this helper.  This sshd does not trust the broker CA, so only the
# pushed plain key can work.
export HOME=$T/home XDG_RUNTIME_DIR=$T/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
unset SSH_AUTH_SOCK BROKER_SOCKET BROKER_POLICY BROKER_BACKEND BROKER_STORE_DIR BROKER_AUDIT_LOG BROKER_TF_STATE
cat >"$T/broker.conf" <<CONF
backend local
local.dir $T/store
audit.log $T/audit.log
policy $T/policy.json
serve.socket $T/run/none.sock
CONF
cat >"$T/policy.json" <<JSON
{"version": 1, "roles": {"eic": {"requesters": {"users": ["$ME"]}, "principals": ["$ME"],
  "default_ttl": "5m", "max_ttl": "1h", "ec2_instance_connect": true}}}
JSON
export BROKER_CONFIG=$T/broker.conf AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator AWS_REGION=eu-west-1 \
	AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=$EMU
"$BROKER" ca init >/dev/null 2>&1 || kb_fail "ca init"
ssh-agent -a "$T/agent.sock" -s >"$T/agent.env" || kb_fail "ssh-agent"
kb_cleanup_add "kill $(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$T/agent.env")"
agent_login() { SSH_AUTH_SOCK=$1 kb_ssh -o IdentitiesOnly=no -o IdentityFile=/dev/null "$ME@127.0.0.1" true 2>>"$T/ssh.err"; }
agent_login "$T/agent.sock" && kb_fail "empty agent got in"
SSH_AUTH_SOCK=$T/agent.sock "$BROKER" issue --role eic --push-ec2 --instance-id "$INSTANCE" >"$T/issue.out" 2>&1 ||
	kb_fail "issue --push-ec2: $(cat "$T/issue.out")"
agent_login "$T/agent.sock" || kb_fail "issued and pushed key refused: $(tail -5 "$SSHD_LOG")"
# Without the plain key, the certificate alone does not get in here.
SSH_AUTH_SOCK=$T/agent.sock ssh-add -L | grep -v -- '-cert-v01@openssh.com ' >"$T/plain.pub"
SSH_AUTH_SOCK=$T/agent.sock ssh-add -d "$T/plain.pub" 2>/dev/null || kb_fail "cannot remove the plain key"
agent_login "$T/agent.sock" && kb_fail "the certificate alone was admitted by an sshd that does not trust the CA"
kb_pass "issue --push-ec2 -> agent -> sshd -> broker authorized-keys -> login"

# `broker ec2 push --role` without --key, with broker-agent.
eval "$("$BROKER_AGENT" -a "$T/bagent.sock" -s)" >/dev/null
kb_cleanup_add "kill $SSH_AGENT_PID"
agent_login "$T/bagent.sock" && kb_fail "empty broker-agent got in"
SSH_AUTH_SOCK=$T/bagent.sock "$BROKER" ec2 push --role eic --instance-id "$INSTANCE" --no-cache >"$T/push.out" 2>&1 ||
	kb_fail "ec2 push --role: $(cat "$T/push.out")"
agent_login "$T/bagent.sock" || kb_fail "ec2 push --role: key refused: $(tail -5 "$SSHD_LOG")"
# On a machine that is not an instance the same key is refused.
sysfs none
agent_login "$T/bagent.sock" && kb_fail "admitted with no EC2 evidence"
sysfs nitro
kb_pass "ec2 push --role -> broker-agent -> sshd -> login; refused off EC2"
