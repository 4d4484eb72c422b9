#!/usr/bin/env bash
# Properties OpenSSH's regress tests prove less than their names say:
# - the agent's own peer uid check (agent-getpeereid never reaches it: the
#   0600 socket stops other users first), here with a world-writable socket;
# - not dumpable / no core files (agent-ptrace makes the binary setgid,
#   which blocks ptrace by itself), here with a plain binary.
. "$KB_TESTLIB/common.sh"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root to switch uids"; exit 77; fi
kb_tmpdir T
chmod 0755 "$T"
cp "$BROKER_AGENT" "$T/agent"; chmod 0755 "$T/agent"
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"; }

# 1. Agent run by root; socket opened to everyone; nobody must be refused
#    by the agent itself (and root, the owner, served).
"$T/agent" -d -a "$T/root.sock" >/dev/null 2>"$T/root.log" &
apid=$!
kb_cleanup_add "kill $apid"
for _ in $(seq 50); do [ -S "$T/root.sock" ] && break; sleep 0.1; done
chmod 0666 "$T/root.sock"
ssh-keygen -q -t ed25519 -N '' -C visible-key -f "$T/k"
SSH_AUTH_SOCK=$T/root.sock ssh-add "$T/k" 2>/dev/null || kb_fail "owner cannot add"
SSH_AUTH_SOCK=$T/root.sock ssh-add -l | grep -q visible-key || kb_fail "owner not served"
as nobody env SSH_AUTH_SOCK="$T/root.sock" ssh-add -l >"$T/nobody.out" 2>&1; rc=$?
[ $rc -ne 0 ] && ! grep -q -e visible-key -e "no identities" "$T/nobody.out" ||
	kb_fail "nobody got an answer from root's agent (exit $rc): $(cat "$T/nobody.out")"
grep -q "uid mismatch: peer euid $(id -u nobody) != uid 0" "$T/root.log" ||
	kb_fail "agent did not log the refusal: $(tail -3 "$T/root.log")"
kb_pass "peer uid check: other uid refused on a world-writable socket"

# 2. Agent run by nobody: root may connect (as OpenSSH allows), uid
#    'daemon' may not.
mkdir "$T/nb"; chown nobody "$T/nb"
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$T/agent" -d -a "$T/nb/sock" >/dev/null 2>"$T/nb.log" &
npid=$!
kb_cleanup_add "kill $npid"
for _ in $(seq 100); do [ -S "$T/nb/sock" ] && break; sleep 0.1; done
chmod 0755 "$T/nb"; as nobody chmod 0666 "$T/nb/sock"
SSH_AUTH_SOCK=$T/nb/sock ssh-add -l 2>&1 | grep -q "no identities" || kb_fail "root refused by nobody's agent"
as daemon env SSH_AUTH_SOCK="$T/nb/sock" ssh-add -l >"$T/daemon.out" 2>&1 && kb_fail "daemon served by nobody's agent"
grep -q "no identities" "$T/daemon.out" && kb_fail "daemon got an answer from nobody's agent"
grep -q "uid mismatch: peer euid $(id -u daemon) != uid $(id -u nobody)" "$T/nb.log" || kb_fail "nobody's agent did not log the refusal"
kb_pass "peer uid check: root allowed, other users refused"

# 3. Not dumpable: /proc entries of a non-dumpable process belong to root,
#    so its own uid cannot read its memory or attach; no core files.
real=$npid
[ "$(stat -c %U /proc/$real/status 2>/dev/null; grep -E '^Uid:' /proc/$real/status | awk '{print $2}')" ] || kb_fail "no agent"
grep -qE "^Uid:\s+$(id -u nobody)\s" /proc/$real/status || kb_fail "agent $real not running as nobody"
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- sleep 30 >/dev/null 2>&1 &
ctl=$!
kb_cleanup_add "kill $ctl"
for _ in $(seq 100); do grep -qE "^Uid:\s+$(id -u nobody)\s" /proc/$ctl/status && break; sleep 0.05; done
sleep 0.1
[ "$(stat -c %u /proc/$ctl/environ)" = "$(id -u nobody)" ] || kb_fail "control process looks odd"
[ "$(stat -c %u /proc/$real/environ)" = 0 ] || kb_fail "agent /proc entries not root-owned: agent is dumpable"
as nobody cat /proc/$real/environ >/dev/null 2>&1 && kb_fail "nobody read its agent's /proc/PID/environ"
as nobody /usr/bin/python3 - "$real" "$ctl" <<'PY' || kb_fail "ptrace by the same uid was not refused"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
agent, control = int(sys.argv[1]), int(sys.argv[2])
if libc.ptrace(PTRACE_ATTACH, control, None, None) != 0:
    print("note: ptrace restricted on this kernel; /proc ownership checked instead")
    sys.exit(0)
libc.ptrace(PTRACE_DETACH, control, None, None)
sys.exit(0 if libc.ptrace(PTRACE_ATTACH, agent, None, None) != 0 else 1)
PY
grep -E "^Max core file size +0 +0 " /proc/$real/limits >/dev/null || kb_fail "core files not disabled"
kb_pass "not dumpable, no ptrace by the same uid, no core files"
