# Helpers for the Vault integration tests.  Source after common.sh.
# vault_emulator_start DIR [emulator options...]: starts the Vault API
# emulator (tests/vault/vault_emulator.py - not Vault) on a free port and
# exports VAULT_ADDR and VAULT_TOKEN (the emulator's root token).
VAULT_EMULATOR=$KB_SOURCE_ROOT/tests/vault/vault_emulator.py
VDRIVER=${VDRIVER:-$KB_BUILD_ROOT/tests/vault/vault-driver}

vault_emulator_start() {
	local dir=$1 scheme=http
	shift
	rm -f "$dir/port"
	python3 "$VAULT_EMULATOR" --port-file "$dir/port" --root-token root --unseal-key unseal-key "$@" \
		2>"$dir/emulator.log" &
	VAULT_EMULATOR_PID=$!
	kb_cleanup_add "kill $VAULT_EMULATOR_PID"
	local i
	for ((i = 0; i < 200; i++)); do [ -s "$dir/port" ] && break; sleep 0.05; done
	[ -s "$dir/port" ] || kb_fail "the Vault emulator did not start: $(cat "$dir/emulator.log")"
	VAULT_PORT=$(cat "$dir/port")
	case " $* " in *" --tls-cert "*) scheme=https ;; esac
	export VAULT_ADDR="$scheme://127.0.0.1:$VAULT_PORT"
	export VAULT_TOKEN=root
	unset VAULT_NAMESPACE VAULT_CACERT VAULT_ROLE_ID VAULT_SECRET_ID VAULT_SECRET_ID_FILE
	# Test control endpoints are plain http only when TLS is off.
	VAULT_CTL="$VAULT_ADDR"
}

# vapi METHOD PATH [JSON] - a raw Vault API call with the root token (what
# `vault write`/`vault read` would do), printing the body.
vapi() {
	local m=$1 p=$2 d=${3:-}
	curl -sS --cacert "${VAULT_CACERT:-/dev/null}" -X "$m" -H "X-Vault-Token: ${VAPI_TOKEN:-root}" \
		${VAPI_NS:+-H "X-Vault-Namespace: $VAPI_NS"} ${d:+-d "$d"} "$VAULT_ADDR/v1/$p"
}

# vinject JSON - queue a fault in the emulator (see vault_emulator.py).
vinject() {
	curl -sS --cacert "${VAULT_CACERT:-/dev/null}" -X POST -d "$1" "$VAULT_CTL/emulator/inject" >/dev/null
}

# jget JSON-FILE-OR-STDIN EXPR - evaluate a Python expression on `d`.
jget() {
	python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# expect_fail EXIT MESSAGE-REGEX CMD... - CMD must fail with this exit code
# and a one-line stderr matching the regex.
expect_fail() {
	local want=$1 re=$2 out rc
	shift 2
	out=$("$@" 2>&1 >/dev/null) && kb_fail "expected failure: $*"
	rc=$?
	[ "$rc" -eq "$want" ] || kb_fail "$*: exit $rc, expected $want ($out)"
	printf '%s\n' "$out" | grep -Eq -- "$re" || kb_fail "$*: message '$out' does not match '$re'"
}
