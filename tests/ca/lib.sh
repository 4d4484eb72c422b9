# Helpers for the CA rotation tests.  Source after common.sh.
#   carot_setup DIR BACKEND MAX_TTL  config + policy (role deploy, max_ttl
#                                   MAX_TTL) in DIR; exports BROKER_CONFIG
#   carot_sshd DIR                  sshd whose TrustedUserCAKeys is
#                                   DIR/trusted (the distributed bundle);
#                                   principal "deploy" may log in as $ME
#   carot_distribute DIR            the playbook: writes DIR/trusted from
#                                   'broker ca show --bundle' (atomically;
#                                   sshd reads it on every authentication)
#   carot_login KEYFILE             ssh with exactly that key (+ -cert.pub)
#   carot_json FILE EXPR            python3 expression over the JSON in FILE
ME=$(id -un)

carot_setup() {
	local dir=$1 backend=$2 max_ttl=$3
	mkdir -p "$dir/home"
	unset SSH_AUTH_SOCK BROKER_SOCKET BROKER_POLICY BROKER_BACKEND BROKER_STORE_DIR BROKER_AUDIT_LOG KB_TEST_CRASH \
		KB_TEST_PAUSE
	export HOME=$dir/home XDG_CONFIG_HOME=$dir/home/.config XDG_RUNTIME_DIR=$dir/run
	cat >"$dir/broker.conf" <<-EOF2
		backend $backend
		local.dir $dir/store
		audit.log $dir/audit/audit.log
		policy $dir/policy.json
		serve.socket $dir/run/broker.sock
	EOF2
	export BROKER_CONFIG=$dir/broker.conf
	cat >"$dir/policy.json" <<-EOF2
		{"version": 1,
		 "roles": {
		  "deploy": {"requesters": {"users": ["$ME"]}, "principals": ["deploy"],
		             "default_ttl": "$max_ttl", "max_ttl": "$max_ttl", "key_types": ["ed25519"]},
		  "short": {"requesters": {"users": ["$ME"]}, "principals": ["deploy"], "max_ttl": "1s"}
		 }}
	EOF2
	"$BROKER" policy lint "$dir/policy.json" >/dev/null || kb_fail "test policy does not lint"
}

carot_sshd() {
	local dir=$1
	mkdir -p "$dir/sshd/principals"
	echo deploy >"$dir/sshd/principals/$ME"
	carot_distribute "$dir"
	kb_sshd_start "$dir/sshd" "TrustedUserCAKeys $dir/trusted" \
		"AuthorizedPrincipalsFile $dir/sshd/principals/%u"
}

carot_distribute() {
	local dir=$1
	"$BROKER" ca show --bundle >"$dir/trusted.new" || kb_fail "ca show --bundle failed"
	mv -f "$dir/trusted.new" "$dir/trusted"
}

carot_login() {
	kb_ssh -o IdentitiesOnly=yes -o IdentityAgent=none -i "$1" "$ME@127.0.0.1" true
}

carot_json() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# carot_signer CERTFILE: the SHA256 fingerprint of the CA that signed it.
carot_signer() {
	ssh-keygen -L -f "$1" | sed -n 's/.*Signing CA: [^ ]* \(SHA256:[^ ]*\).*/\1/p'
}
