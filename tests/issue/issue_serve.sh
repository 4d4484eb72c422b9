#!/usr/bin/env bash
# broker serve: clients are identified by SO_PEERCRED.  A client run as
# `nobody` is nobody (the policy applies to nobody), a client cannot claim
# another identity, many clients at once are served, and `broker issue`
# uses the daemon when BROKER_SOCKET is set.
. "$KB_TESTLIB/common.sh"
. "$(dirname "$0")/lib.sh"

kb_tmpdir D
issue_setup "$D"
issue_sshd "$D"
mkdir -p "$D/run"
chmod 755 "$D" "$D/run"

"$BROKER" serve --socket "$D/run/broker.sock" 2>"$D/serve.log" &
SERVE_PID=$!
kb_cleanup_add "kill $SERVE_PID"
for _ in $(seq 100); do [ -S "$D/run/broker.sock" ] && break; sleep 0.05; done
[ -S "$D/run/broker.sock" ] || kb_fail "broker serve did not start: $(cat "$D/serve.log")"
export BROKER_SOCKET=$D/run/broker.sock

# The protocol by hand: ping says who we are; claims are refused.
cat >"$D/client.py" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def call(obj):
    b = json.dumps(obj).encode()
    s.sendall(struct.pack(">I", len(b)) + b)
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr))
        if not c:
            raise SystemExit("connection closed")
        hdr += c
    n = struct.unpack(">I", hdr)[0]
    d = b""
    while len(d) < n:
        d += s.recv(n - len(d))
    return json.loads(d)
for arg in sys.argv[2:]:
    print(json.dumps(call(json.loads(arg))))
EOF
python3 "$D/client.py" "$BROKER_SOCKET" '{"op":"ping"}' >"$D/ping.json" || kb_fail "ping"
grep -q "\"user\": \"$ME\"" "$D/ping.json" || kb_fail "ping: $(cat "$D/ping.json")"
python3 "$D/client.py" "$BROKER_SOCKET" '{"op":"issue","role":"deploy","user":"root"}' \
	'{"op":"issue","role":"deploy","requester":"alice"}' '{"op":"issue","role":"deploy","uid":0}' >"$D/claim.json"
[ "$(grep -c '"ok": false' "$D/claim.json")" = 3 ] || kb_fail "a claimed identity was not refused: $(cat "$D/claim.json")"
grep -q "SO_PEERCRED" "$D/claim.json" || kb_fail "claim refusal does not explain itself"
# an oversized frame is refused without reading it
python3 - "$BROKER_SOCKET" >"$D/big.out" <<'EOF' || kb_fail "oversized request: $(cat "$D/big.out")"
import socket, struct, sys, json
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(struct.pack(">I", 1 << 30))
n = struct.unpack(">I", s.recv(4))[0]
r = json.loads(s.recv(n))
assert r["ok"] is False and r["error"] == "too_large", r
EOF
kb_pass "protocol: ping, claims refused, size cap"
"$BROKER" ca show >"$D/ca-daemon.pub" || kb_fail "ca show through the daemon"
cmp -s "$D/ca.pub" "$D/ca-daemon.pub" || kb_fail "ca show through the daemon differs"
"$BROKER" ca show --host 2>"$D/hca.err" && kb_fail "host CA shown although none exists"
grep -q "ca init --host" "$D/hca.err" || kb_fail "missing host CA message: $(cat "$D/hca.err")"

# broker issue through the daemon (client loads its own agent).
ssh-agent -a "$D/agent.sock" -s >"$D/agent.env"
kb_cleanup_add "kill $(sed -n 's/SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$D/agent.env")"
"$BROKER" --json issue --role deploy --principal deploy --agent "$D/agent.sock" >"$D/i.json" ||
	kb_fail "issue via daemon"
[ "$(issue_json "$D/i.json" 'j["via"]')" = daemon ] || kb_fail "issue did not use the daemon"
SSH_AUTH_SOCK=$D/agent.sock kb_ssh "$ME@127.0.0.1" true || kb_fail "login with daemon-issued certificate"
kb_pass "issue via daemon, login"

# Many clients at once.
PIDS=()
for i in $(seq 8); do
	"$BROKER" issue --role personal --name "p$i" --no-agent --ttl 1m >"$D/par$i.out" 2>&1 &
	PIDS+=($!)
done
wait_fail=0
for p in "${PIDS[@]}"; do wait "$p" || wait_fail=1; done
[ $wait_fail = 0 ] || kb_fail "parallel issues failed: $(cat "$D"/par*.out)"
[ "$(cat "$D"/par*.out | grep -c '^issued ')" = 8 ] || kb_fail "parallel issues: $(cat "$D"/par*.out)"
kb_pass "8 concurrent clients"

# A client running as nobody is nobody.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	cp "$BROKER" "$D/broker-client"
	chmod 755 "$D/broker-client"
	as_nobody() {
		setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			env -i PATH=/usr/bin:/bin HOME=/nonexistent BROKER_SOCKET="$BROKER_SOCKET" \
			ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" "$@"
	}
	as_nobody python3 "$D/client.py" "$BROKER_SOCKET" '{"op":"ping"}' >"$D/nping.json" || kb_fail "ping as nobody"
	grep -q '"user": "nobody"' "$D/nping.json" || kb_fail "nobody not identified: $(cat "$D/nping.json")"
	# personal role: principal {{requester}} becomes nobody
	as_nobody "$D/broker-client" --json issue --role personal --no-agent >"$D/n.json" 2>"$D/n.err" ||
		kb_fail "issue as nobody: $(cat "$D/n.err")"
	[ "$(issue_json "$D/n.json" 'j["principals"]')" = "['nobody']" ] || kb_fail "nobody's principals: $(cat "$D/n.json")"
	[ "$(issue_json "$D/n.json" 'j["secret"]')" = "keybroker/personal/nobody" ] || kb_fail "nobody's secret"
	issue_json "$D/n.json" 'j["key_id"]' | grep -q '^nobody@personal#' || kb_fail "nobody's key id"
	# deploy: an explicit deny for nobody
	set +e
	as_nobody "$D/broker-client" issue --role deploy --no-agent >"$D/nd.out" 2>"$D/nd.err"; rc=$?
	set -e
	[ $rc = 3 ] || kb_fail "nobody was not denied deploy (exit $rc): $(cat "$D/nd.err" "$D/nd.out")"
	grep -q "deny\[0\]" "$D/nd.err" || kb_fail "deny message: $(cat "$D/nd.err")"
	tail -1 "$D/audit/audit.log" | grep -q '"requester":"nobody".*' || kb_fail "deny not audited for nobody"
	tail -1 "$D/audit/audit.log" | grep -q '"uid":65534' || kb_fail "audit line lacks nobody's uid"
	# and cannot pretend to be someone else
	as_nobody python3 "$D/client.py" "$BROKER_SOCKET" "{\"op\":\"issue\",\"role\":\"deploy\",\"user\":\"$ME\"}" >"$D/nc.json"
	grep -q '"ok": false' "$D/nc.json" || kb_fail "nobody claimed $ME: $(cat "$D/nc.json")"
	as_nobody "$D/broker-client" ca show >"$D/ca-nobody.pub" || kb_fail "ca show as nobody"
	cmp -s "$D/ca.pub" "$D/ca-nobody.pub" || kb_fail "nobody got another CA key"
	kb_pass "client as nobody identified by SO_PEERCRED; policy applied"
else
	echo "# not root or no setpriv: skipped the nobody part"
fi

kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
[ ! -e "$D/run/broker.sock" ] || kb_fail "daemon left its socket behind"
"$BROKER" audit verify >/dev/null || kb_fail "audit log after daemon run"
kb_pass "daemon stopped cleanly; audit log verifies"
