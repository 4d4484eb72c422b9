#!/bin/bash
# broker exec with real ansible-core against three local sshd that trust
# only the broker CA: ping and the demo playbook with no key file anywhere,
# renewal during a run, ansible without broker exec refused, exit status and
# signal forwarding, nothing left behind.
. "$KB_TESTLIB/common.sh"
set -e
kb_tmpdir T
ME=$(id -un)
# An empty home: no ~/.ssh keys, no ansible config of the user's.
export HOME=$T/home
mkdir -p "$HOME/.ssh"
chmod 0700 "$HOME/.ssh"
export TMPDIR=$T/tmp XDG_RUNTIME_DIR=$T/run
mkdir -p "$TMPDIR" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
unset SSH_AUTH_SOCK SSH_AGENT_PID BROKER_CONFIG ANSIBLE_PRIVATE_KEY_FILE
export BROKER_BACKEND=local BROKER_STORE_DIR=$T/store BROKER_POLICY=$T/policy.json BROKER_AUDIT_LOG=$T/audit.log
export ANSIBLE_HOME=$T/ansible ANSIBLE_LOCAL_TEMP=$T/ansible/tmp ANSIBLE_REMOTE_TEMP=$T/ansible/remote-tmp \
	ANSIBLE_INVENTORY_UNPARSED_FAILED=true ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=false
cat >"$BROKER_POLICY" <<JSON
{"version": 1, "roles": {"deploy": {"requesters": {"users": ["$ME"]}, "principals": ["{{requester}}"],
  "default_ttl": "5m", "max_ttl": "30m", "key_types": ["ed25519"]}}}
JSON
"$BROKER" ca init >/dev/null
"$BROKER" ca show >"$T/user_ca.pub"
. "$KB_SOURCE_ROOT/examples/demo/hosts.sh"
demo_start_hosts "$T" "$T/user_ca.pub" "$ME"
for p in "${DEMO_PIDS[@]}"; do kb_cleanup_add "kill $p"; done
demo_write_state "$T/terraform.tfstate"
demo_write_ansible_cfg "$T"
kb_cleanup_add "demo_stop_mux '$T'"
export ANSIBLE_CONFIG=$T/ansible.cfg BROKER_TF_STATE=$T/terraform.tfstate BROKER_ROLE=deploy
SHIM=$KB_SOURCE_ROOT/contrib/ansible/keybroker_inventory.sh
ansible-config dump --only-changed 2>/dev/null | grep -qi private_key_file && kb_fail "a private_key_file is configured"

# Without broker exec: refused (no agent, no key).
if ansible -i "$SHIM" all -m ping -o >"$T/noexec.out" 2>&1; then kb_fail "ansible without broker exec got in"; fi
grep -q UNREACHABLE "$T/noexec.out" || kb_fail "unexpected failure: $(cat "$T/noexec.out")"
kb_pass "ansible without broker exec is refused"

# ping through broker exec.
"$BROKER" exec --role deploy -- ansible -i "$SHIM" all -m ping -o >"$T/ping.out" 2>"$T/ping.err" ||
	kb_fail "ping through broker exec: $(cat "$T/ping.out" "$T/ping.err")"
[ "$(grep -c 'SUCCESS' "$T/ping.out")" -eq 3 ] || kb_fail "not 3 pongs: $(cat "$T/ping.out")"
kb_pass "ansible all -m ping through broker exec"

# Nothing left: no agent directory, no key file anywhere we looked.
[ -z "$(ls -A "$XDG_RUNTIME_DIR")" ] || kb_fail "left in the runtime dir: $(ls -A "$XDG_RUNTIME_DIR")"
[ -z "$(ls -A "$HOME/.ssh")" ] || kb_fail "~/.ssh is not empty"
if grep -rlsI 'PRIVATE KEY' "$T" --exclude='host_ed25519' >"$T/keys"; then kb_fail "private key files: $(cat "$T/keys")"; fi
kb_pass "no key file on disk, agent and socket gone"

# Renewal: a 15 s certificate, a command that outlives it.
"$BROKER" exec --role deploy --ttl 15s -- sh -c '
	ssh-add -L >"$0/first"
	sleep 17
	ssh-add -L >"$0/second"
	n=$(ssh-add -L | wc -l)
	[ "$n" -eq 1 ] || { echo "agent holds $n identities" >&2; exit 9; }
	exec ansible -i "$1" all -m ping -o
' "$T" "$SHIM" >"$T/renew.out" 2>"$T/renew.err" || kb_fail "run across expiry: $(cat "$T/renew.out" "$T/renew.err")"
[ "$(grep -c SUCCESS "$T/renew.out")" -eq 3 ] || kb_fail "renewal ping: $(cat "$T/renew.out")"
cmp -s "$T/first" "$T/second" && kb_fail "the certificate was not renewed"
grep -q "renewed" "$T/renew.err" || kb_fail "no renewal message: $(cat "$T/renew.err")"
# The first certificate has expired by now: by itself it would be refused.
ssh-keygen -L -f "$T/first" | grep -q "Valid:" || kb_fail "cannot read the first certificate"
kb_pass "certificate renewed during the run (no gap)"

# Exit status and signals.
set +e
"$BROKER" exec --role deploy -- sh -c 'exit 7'
rc=$?
[ $rc -eq 7 ] || kb_fail "exit status $rc, expected 7"
"$BROKER" exec --role deploy -- sleep 30 &
pid=$!
for _ in $(seq 100); do [ -n "$(ls -A "$XDG_RUNTIME_DIR")" ] && pgrep -P $pid sleep >/dev/null && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
set -e
[ $rc -eq 143 ] || kb_fail "SIGTERM: exit $rc, expected 143"
[ -z "$(ls -A "$XDG_RUNTIME_DIR")" ] || kb_fail "left after SIGTERM: $(ls -A "$XDG_RUNTIME_DIR")"
if "$BROKER" exec --role nosuch -- true 2>"$T/err"; then kb_fail "unknown role ran the command"; fi
kb_pass "exit status returned, SIGTERM forwarded, cleanup after a signal"

# --revoke-on-exit: the run's certificate ends up in the KRL (created, then updated).
if "$BROKER" exec --role deploy --revoke-on-exit -- true 2>"$T/err"; then kb_fail "--revoke-on-exit without a KRL ran"; fi
grep -q -- "--krl" "$T/err" || kb_fail "no hint about --krl: $(cat "$T/err")"
"$BROKER" exec --role deploy --revoke-on-exit --krl "$T/revoked.krl" -- sh -c 'ssh-add -L >"$0/r1.pub"' "$T"
"$BROKER" exec --role deploy -- sh -c 'ssh-add -L >"$0/keep.pub"' "$T"
BROKER_KRL=$T/revoked.krl "$BROKER" exec --role deploy --revoke-on-exit -- sh -c 'ssh-add -L >"$0/r2.pub"' "$T"
for c in r1 r2; do
	set +e; ssh-keygen -Q -f "$T/revoked.krl" "$T/$c.pub" >/dev/null 2>&1; rc=$?; set -e
	[ $rc -eq 1 ] || kb_fail "$c not revoked (ssh-keygen -Q exit $rc)"
done
ssh-keygen -Q -f "$T/revoked.krl" "$T/keep.pub" >/dev/null 2>&1 || kb_fail "a run without --revoke-on-exit was revoked"
kb_pass "--revoke-on-exit puts the run's certificates in the KRL"

# The demo playbook through broker exec.
git init -q "$T/app.git"
cp "$KB_SOURCE_ROOT"/examples/app/{app.py,VERSION} "$T/app.git/"
git -C "$T/app.git" add -A
git -C "$T/app.git" -c user.name=t -c user.email=t@example.invalid commit -qm app
git -C "$T/app.git" tag v1.0.0
mkdir -p "$T/srv"
kb_cleanup_add 'for f in '"$T"'/srv/*/gunicorn.pid; do kill $(cat $f); done'
"$BROKER" exec --role deploy -- ansible-playbook -i "$SHIM" -e app_repo="$T/app.git" -e app_version=v1.0.0 \
	-e app_root="$T/srv" "$KB_SOURCE_ROOT/examples/demo/deploy.yml" >"$T/play.out" 2>&1 ||
	kb_fail "playbook: $(tail -30 "$T/play.out")"
for i in 1 2 3; do
	curl -sf "http://127.0.0.1$i:8080/health" | grep -q '"version":"1.0.0"' || kb_fail "127.0.0.1$i does not answer"
done
# One zone at a time: the plays ran serially (one host per batch).
[ "$(grep -c '^PLAY \[' "$T/play.out")" -ge 3 ] || kb_fail "not serial: $(grep '^PLAY' "$T/play.out")"
kb_pass "deploy playbook through broker exec, every instance healthy"
