# Helpers for the rotation tests.  Source after common.sh.
#   rot_setup DIR [BACKEND] config (local store by default, audit log) in DIR,
#                          HOME=DIR/home
#   rot_hosts DIR N        N real sshds on 127.0.0.1 (DIR/hI), each with its own
#                          authorized_keys DIR/hI/keys/USER.keys, reached by the
#                          broker as --authorized-keys keys/%u.keys (the sessions'
#                          HOME is DIR/hI); sets PORTS, PIDS, KH (known_hosts of all)
#   rot_keys I             the key lines installed on host I
#   rot_login STAGE I      logs in to host I with the stored STAGE key of $CRED,
#                          fed from `broker store get` to a private ssh-agent
#                          (the key is never written to disk)
#   rot_json FILE EXPR     python3 expression over the JSON in FILE (as j)
ME=$(id -un)

rot_setup() {
	local dir=$1 backend=${2:-local}
	mkdir -p "$dir/home" "$dir/run"
	unset SSH_AUTH_SOCK SSH_AGENT_PID BROKER_SOCKET BROKER_POLICY BROKER_BACKEND BROKER_STORE_DIR \
		BROKER_AUDIT_LOG KEYBROKER_TEST_CRASH
	export HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config XDG_RUNTIME_DIR=$dir/run
	cat >"$dir/broker.conf" <<-EOC
		backend $backend
		local.dir $dir/store
		audit.log $dir/audit/audit.log
	EOC
	export BROKER_CONFIG=$dir/broker.conf
	# A private agent for checks: only the key under test is in it.
	eval "$(ssh-agent -s -a "$dir/run/check.sock")" >/dev/null
	kb_cleanup_add "kill $SSH_AGENT_PID"
	CHECK_SOCK=$dir/run/check.sock
	unset SSH_AUTH_SOCK SSH_AGENT_PID
}

rot_hosts() {
	local dir=$1 n=$2 i
	PORTS=() PIDS=()
	: >"$dir/known_hosts"
	for ((i = 1; i <= n; i++)); do
		mkdir -p "$dir/h$i/keys"
		kb_sshd_start "$dir/h$i" "SetEnv HOME=$dir/h$i" "Match all" "AuthorizedKeysFile $dir/h$i/keys/%u.keys"
		PORTS[$i]=$SSHD_PORT
		PIDS[$i]=$SSHD_PID
		cat "$SSHD_KNOWN_HOSTS" >>"$dir/known_hosts"
	done
	KH=$dir/known_hosts
	HOSTOPTS=(--known-hosts "$KH" --authorized-keys 'keys/%u.keys' --connect-timeout 3 --command-timeout 10)
}

rot_targets() { # the --target options for hosts 1..N
	local i
	TARGETS=()
	for ((i = 1; i < ${#PORTS[@]} + 1; i++)); do
		[ -n "${PORTS[$i]:-}" ] && TARGETS+=(--target "$ME@127.0.0.1:${PORTS[$i]}")
	done
}

rot_keys() { cat "$D/h$1/keys/$ME.keys" 2>/dev/null || true; }

# The base64 blob of a stored stage's public key.
rot_blob() { # STAGE
	"$BROKER" store get "$CRED" --stage "$1" --field public_key 2>/dev/null | awk '{print $2}'
}

# Loads the stored STAGE key of $CRED into the check agent (alone).
rot_agent_load() { # STAGE
	SSH_AUTH_SOCK=$CHECK_SOCK ssh-add -D >/dev/null 2>&1
	"$BROKER" store get "$CRED" --stage "$1" --field private_key 2>/dev/null |
		SSH_AUTH_SOCK=$CHECK_SOCK ssh-add -q - >/dev/null 2>&1
}
rot_ssh() { # I: logs in with whatever the check agent holds
	SSH_AUTH_SOCK=$CHECK_SOCK ssh -F /dev/null -p "${PORTS[$1]}" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$KH" -o KexAlgorithms=curve25519-sha256 -o ConnectTimeout=5 \
		-o IdentityAgent="$CHECK_SOCK" "$ME@127.0.0.1" true </dev/null 2>/dev/null
}
rot_login() { # STAGE I
	rot_agent_load "$1" || return 2
	rot_ssh "$2"
}

# The current key logs in to every host.
rot_current_everywhere() { # CONTEXT
	local i
	rot_agent_load current || kb_fail "$1: cannot load the current key"
	for ((i = 1; i <= NHOSTS; i++)); do
		rot_ssh "$i" || kb_fail "$1: the current key does not log in to host $i ($(rot_keys "$i" | wc -l) keys there)"
	done
}

# Converged: no pending version, every host holds exactly the current key,
# the previous key (when there is one) is refused everywhere.
rot_converged() { # CONTEXT
	local i cur
	"$BROKER" --json store describe "$CRED" >"$D/describe.json" || kb_fail "$1: describe"
	rot_json "$D/describe.json" '[v for v in j["versions"] if "pending" in v["stages"] and "current" not in v["stages"]]' |
		grep -qx '\[\]' || kb_fail "$1: a pending version is left: $(cat "$D/describe.json")"
	cur=$(rot_blob current)
	[ -n "$cur" ] || kb_fail "$1: no current key"
	for ((i = 1; i <= NHOSTS; i++)); do
		[ "$(rot_keys "$i" | wc -l)" = 1 ] || kb_fail "$1: host $i holds $(rot_keys "$i" | wc -l) keys: $(rot_keys "$i")"
		[ "$(rot_keys "$i" | awk '{print $2}')" = "$cur" ] || kb_fail "$1: host $i does not hold the current key"
	done
	rot_current_everywhere "$1"
	if [ -n "$(rot_blob previous)" ]; then
		rot_agent_load previous || kb_fail "$1: cannot load the previous key"
		for ((i = 1; i <= NHOSTS; i++)); do
			rot_ssh "$i" && kb_fail "$1: the previous key still logs in to host $i"
		done
	fi
	return 0
}

rot_json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
