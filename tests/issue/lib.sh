# Helpers for the issue-area integration tests.  Source after common.sh.
#   issue_setup DIR [BACKEND]  config + policy in DIR, exports BROKER_CONFIG,
#                              creates the user CA, writes DIR/ca.pub
#   issue_sshd DIR             sshd trusting the CA; root may log in with
#                              principal "deploy" only (AuthorizedPrincipalsFile)
#   issue_json FILE EXPR       python3 expression over the JSON in FILE (as j)
ME=$(id -un)

issue_setup() {
	local dir=$1 backend=${2:-local}
	mkdir -p "$dir/home"
	unset SSH_AUTH_SOCK BROKER_SOCKET BROKER_POLICY BROKER_BACKEND BROKER_STORE_DIR BROKER_AUDIT_LOG
	export HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config XDG_RUNTIME_DIR=$dir/run
	cat >"$dir/broker.conf" <<-EOF
		backend $backend
		local.dir $dir/store
		audit.log $dir/audit/audit.log
		policy $dir/policy.json
		serve.socket $dir/run/broker.sock
	EOF
	export BROKER_CONFIG=$dir/broker.conf
	cat >"$dir/policy.json" <<-EOF
		{"version": 1,
		 "roles": {
		  "deploy": {"requesters": {"users": ["$ME", "nobody"]}, "principals": ["deploy", "ubuntu"],
		             "default_ttl": "10m", "max_ttl": "1h", "key_types": ["ed25519", "ecdsa-p256"],
		             "extensions": ["permit-pty"]},
		  "personal": {"requesters": {"users": ["nobody", "$ME"]}, "principals": ["{{requester}}"],
		               "max_ttl": "5m"}
		 },
		 "deny": [{"users": ["nobody"], "roles": ["deploy"]}]}
	EOF
	"$BROKER" policy lint "$dir/policy.json" >/dev/null || kb_fail "test policy does not lint"
	"$BROKER" ca init >"$dir/ca.pub" 2>"$dir/ca-init.err" || kb_fail "ca init: $(cat "$dir/ca-init.err")"
	"$BROKER" ca show >"$dir/ca2.pub" || kb_fail "ca show"
	cmp -s "$dir/ca.pub" "$dir/ca2.pub" || kb_fail "ca show differs from ca init"
}

issue_sshd() {
	local dir=$1
	mkdir -p "$dir/sshd/principals"
	echo deploy >"$dir/sshd/principals/$ME"
	kb_sshd_start "$dir/sshd" "TrustedUserCAKeys $dir/ca.pub" \
		"AuthorizedPrincipalsFile $dir/sshd/principals/%u"
}

issue_json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
