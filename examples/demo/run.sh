#!/bin/bash
# Keybroker end to end, on one machine:
#
#   three "EC2 instances" (real sshd on 127.0.0.11-13, one per availability
#   zone eu-west-1a/b/c) that trust the broker's user CA, a Terraform state
#   file describing them, the local encrypted backend, and
#
#     broker exec --role deploy -- ansible-playbook -i keybroker_inventory.sh deploy.yml
#
#   deploying examples/app from a git tag to every host (gunicorn), one zone
#   at a time with HTTP health checks.  It ends by showing every instance
#   answering, that no private key file exists on disk, and that the key is
#   gone from the agent.  Everything it starts is stopped, everything it
#   writes is removed.  Works as root and as an ordinary user.
#
# Usage: examples/demo/run.sh [--keep]     (--keep: leave the demo directory)
# Environment: BROKER, BROKER_AGENT (binaries; default: build them here),
#              KB_DEMO_BUILD_DIR (default: build).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KEEP=false
[ "${1:-}" = "--keep" ] && KEEP=true

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# --- 0. dependencies and build ------------------------------------------------
if [ -z "${BROKER:-}" ]; then
	if [ "$(id -u)" -eq 0 ]; then
		"$ROOT/scripts/install-deps.sh"
	else
		"$ROOT/scripts/install-deps.sh" || die "missing packages: run 'sudo scripts/install-deps.sh' once"
	fi
	B=$ROOT/${KB_DEMO_BUILD_DIR:-build}
	[ -f "$B/build.ninja" ] || meson setup "$B" "$ROOT" >/dev/null
	ninja -C "$B" >/dev/null
	BROKER=$B/broker/broker
	BROKER_AGENT=$B/agent/broker-agent
fi
export BROKER BROKER_AGENT=${BROKER_AGENT:-$(dirname "$BROKER")/../agent/broker-agent}
for t in ansible-playbook gunicorn git curl ssh-keygen /usr/sbin/sshd; do
	command -v "$t" >/dev/null || die "$t not found: run scripts/install-deps.sh"
done

# --- demo directory, cleanup --------------------------------------------------
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/keybroker-demo.XXXXXX")
chmod 0700 "$DEMO"
PIDS=()
cleanup() {
	local rc=$?
	set +e
	declare -F demo_stop_mux >/dev/null && demo_stop_mux "$DEMO"
	local gpids=()
	for f in "$DEMO"/srv/*/gunicorn.pid; do
		[ -f "$f" ] && gpids+=("$(cat "$f")")
	done
	for p in "${gpids[@]}"; do kill "$p" 2>/dev/null; done
	# gunicorn stops its workers gracefully: wait for it (at most 10 s).
	for _ in $(seq 100); do
		alive=0
		for p in "${gpids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive -eq 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if $KEEP; then echo "demo: kept $DEMO"; else rm -rf "$DEMO"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The broker's state lives in the demo directory; no agent of the user's is used.
export BROKER_BACKEND=local BROKER_STORE_DIR=$DEMO/store BROKER_POLICY=$DEMO/policy.json \
	BROKER_AUDIT_LOG=$DEMO/audit.log
unset SSH_AUTH_SOCK SSH_AGENT_PID BROKER_CONFIG
export ANSIBLE_HOME=$DEMO/ansible ANSIBLE_LOCAL_TEMP=$DEMO/ansible/tmp ANSIBLE_REMOTE_TEMP=$DEMO/ansible/remote-tmp \
	ANSIBLE_INVENTORY_UNPARSED_FAILED=true ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=false
ME=$(id -un)

# --- 1. policy and CA ---------------------------------------------------------
say "Policy: role 'deploy' for $ME, 5-minute certificates, login as $ME"
cat >"$BROKER_POLICY" <<EOF
{"version": 1,
 "roles": {"deploy": {
   "description": "demo deploys",
   "requesters": {"users": ["$ME"]},
   "principals": ["{{requester}}"],
   "default_ttl": "5m", "max_ttl": "30m",
   "key_types": ["ed25519"],
   "extensions": ["permit-pty"]}}}
EOF
"$BROKER" policy lint "$BROKER_POLICY"
"$BROKER" ca init >/dev/null
"$BROKER" ca show >"$DEMO/user_ca.pub"
echo "user CA: $(ssh-keygen -lf "$DEMO/user_ca.pub")"

# --- 2. three hosts -----------------------------------------------------------
say "Three hosts: sshd on 127.0.0.11-13, trusting only the broker CA"
. "$ROOT/examples/demo/hosts.sh"
demo_start_hosts "$DEMO" "$DEMO/user_ca.pub" "$ME" || die "cannot start the hosts"
PIDS+=("${DEMO_PIDS[@]}")
PORT=$DEMO_PORT
echo "sshd listening on 127.0.0.11:$PORT, 127.0.0.12:$PORT, 127.0.0.13:$PORT"

# --- 3. Terraform state -------------------------------------------------------
say "Terraform state describing them (aws_instance.web, count = 3)"
demo_write_state "$DEMO/terraform.tfstate"
export BROKER_TF_STATE=$DEMO/terraform.tfstate BROKER_ROLE=deploy
ansible-inventory -i "$ROOT/contrib/ansible/keybroker_inventory.sh" --graph

# --- 4. the app at a git tag --------------------------------------------------
say "The app, tagged v1.0.0 in a git repository"
git init -q "$DEMO/app.git"
cp "$ROOT"/examples/app/{app.py,VERSION,README.md} "$DEMO/app.git/"
git -C "$DEMO/app.git" add -A
git -C "$DEMO/app.git" -c user.name=demo -c user.email=demo@example.invalid commit -qm "app 1.0.0"
git -C "$DEMO/app.git" tag v1.0.0
git -C "$DEMO/app.git" log --oneline --decorate

# --- 5. deploy ----------------------------------------------------------------
say "Deploy: broker exec --role deploy -- ansible-playbook ..."
demo_write_ansible_cfg "$DEMO"
export ANSIBLE_CONFIG=$DEMO/ansible.cfg
mkdir -p "$DEMO/srv"
"$BROKER" exec --role deploy -- sh -c '
	echo "agent $SSH_AUTH_SOCK holds:"; ssh-add -l
	ssh-add -L >"$0/issued.pub"
	echo "$SSH_AUTH_SOCK" >"$0/agent.path"
	exec ansible-playbook -i "$1" -e app_repo="$0/app.git" -e app_version=v1.0.0 -e app_root="$0/srv" "$2"
' "$DEMO" "$ROOT/contrib/ansible/keybroker_inventory.sh" "$ROOT/examples/demo/deploy.yml"

# --- 6. proof -----------------------------------------------------------------
say "Every instance answers"
for i in 1 2 3; do
	out=$(curl -sf "http://127.0.0.1$i:8080/") || die "127.0.0.1$i:8080 does not answer"
	echo "127.0.0.1$i:8080  $out"
done

say "No private key file on disk for the credential that was used"
ssh-keygen -lf "$DEMO/issued.pub" | sed 's/^/issued: /'
issued_fp=$(ssh-keygen -lf "$DEMO/issued.pub" | awk '{print $2}')
found=0
while IFS= read -r f; do
	# -P '': an encrypted key fails instead of prompting.
	fp=$(timeout 5 ssh-keygen -y -P '' -f "$f" </dev/null 2>/dev/null | ssh-keygen -lf - 2>/dev/null | awk '{print $2}') || continue
	[ "$fp" = "$issued_fp" ] && { echo "FOUND on disk: $f"; found=1; }
done < <(find "$DEMO" "$HOME/.ssh" "${TMPDIR:-/tmp}" -maxdepth 4 -xdev -type f -size -64k -print0 2>/dev/null |
	xargs -0 -r grep -lsI -e 'PRIVATE KEY' 2>/dev/null || true)
[ $found -eq 0 ] || die "the issued private key is on disk"
echo "searched $DEMO, ${TMPDIR:-/tmp} and $HOME/.ssh: no file holds the issued private key"
ls -A "$HOME/.ssh" 2>/dev/null | grep -v -e '^known_hosts' -e '^authorized_keys' -e '^config$' | sed 's/^/~\/.ssh: /' || true

say "The key is gone from the agent"
# Only this run's directory counts: other broker exec runs (a parallel test
# suite, another user) may have their own keybroker-exec.* directories.
rundir=$(dirname "$(cat "$DEMO/agent.path")")
case $rundir in */keybroker-exec.*) ;; *) die "unexpected agent socket path $(cat "$DEMO/agent.path")" ;; esac
[ ! -e "$rundir" ] || die "broker exec left its agent directory $rundir behind"
echo "per-run agent directory $rundir: removed"
if SSH_AUTH_SOCK=$(cat "$DEMO/agent.path") ssh-add -l >/dev/null 2>&1; then
	die "the per-run agent still answers"
fi
echo "ssh-add -l on $(cat "$DEMO/agent.path"): no agent there any more; the credential is gone"
say "Demo complete"
