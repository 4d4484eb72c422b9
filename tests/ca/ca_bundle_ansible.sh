#!/usr/bin/env bash
# The distribution playbook (contrib/ansible/keybroker-ca-bundle.yml) with
# real ansible-core against sshds whose TrustedUserCAKeys is the file the
# playbook writes; Ansible itself logs in with a certificate of the CA that
# signs at the time (made by ssh-keygen with the CA key read back from the
# backend, valid for an hour: the policy's max_ttl is a few seconds here to
# keep the overlap short, too short for a 'broker exec' session):
#   rotate -> playbook: both hosts trust the pending CA; a rerun changes nothing
#   promote -> playbook: Ansible now logs in with a certificate of the new CA
#     (accepted because the hosts got it while it was pending); a third host
#     that missed that step locks Ansible out
#   after the overlap -> playbook: only the new CA on the hosts
. "$KB_TESTLIB/common.sh"
. "$(dirname "$0")/lib.sh"
command -v ansible-playbook >/dev/null || kb_fail "ansible-playbook not found (ansible-core)"

TTL=3
kb_tmpdir D
carot_setup "$D" local "${TTL}s"
export TMPDIR=$D/tmp
mkdir -p "$TMPDIR" "$D/ansible/tmp"
export ANSIBLE_HOME=$D/ansible ANSIBLE_LOCAL_TEMP=$D/ansible/tmp ANSIBLE_REMOTE_TEMP=$D/ansible/remote-tmp \
	ANSIBLE_NOCOWS=1 ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_CONFIG=$D/ansible.cfg
unset ANSIBLE_PRIVATE_KEY_FILE
"$BROKER" ca init >/dev/null 2>"$D/err" || kb_fail "ca init: $(cat "$D/err")"
PLAYBOOK=$KB_SOURCE_ROOT/contrib/ansible/keybroker-ca-bundle.yml

: >"$D/known_hosts"
: >"$D/inventory"
for h in h1 h2 h3; do
	mkdir -p "$D/$h/principals"
	echo deploy >"$D/$h/principals/$ME"
	"$BROKER" ca show --bundle >"$D/$h/trusted" # bootstrap: the CA as it is
	kb_sshd_start "$D/$h" "TrustedUserCAKeys $D/$h/trusted" "AuthorizedPrincipalsFile $D/$h/principals/%u" \
		"SetEnv HOME=$D/home"
	cat "$SSHD_KNOWN_HOSTS" >>"$D/known_hosts"
	echo "$h ansible_host=127.0.0.1 ansible_port=$SSHD_PORT ansible_user=$ME keybroker_ca_bundle_path=$D/$h/trusted" \
		>>"$D/inventory"
done
cat >"$D/ansible.cfg" <<CFG
[defaults]
host_key_checking = True
interpreter_python = /usr/bin/python3
[ssh_connection]
pipelining = True
ssh_args = -F /dev/null -o UserKnownHostsFile=$D/known_hosts -o StrictHostKeyChecking=yes -o ControlMaster=no -o KexAlgorithms=curve25519-sha256
CFG

# signer_cert NAME: $D/NAME, a key with a certificate (principal deploy)
# from the CA that signs now.
signer_cert() {
	"$BROKER" store get keybroker/ca/user --field private_key >"$D/ca.key" || kb_fail "store get CA key"
	chmod 600 "$D/ca.key"
	ssh-keygen -q -t ed25519 -N '' -f "$D/$1" </dev/null
	ssh-keygen -q -s "$D/ca.key" -I "ansible-$1" -n deploy -V -1m:+1h "$D/$1.pub" || kb_fail "ssh-keygen -s"
	rm -f "$D/ca.key"
}
play() { # LIMIT LOG KEY
	ansible-playbook -i "$D/inventory" --limit "$1" --private-key "$D/$3" -e keybroker_broker="$BROKER" \
		"$PLAYBOOK" >"$2" 2>&1
}
changed() { sed -n "s/^$1 *: .*changed=\([0-9]*\).*/\1/p" "$2"; }

signer_cert old
"$BROKER" ca rotate >/dev/null 2>"$D/err" || kb_fail "ca rotate: $(cat "$D/err")"
play h1,h2 "$D/p1.log" old || kb_fail "playbook after rotate: $(tail -20 "$D/p1.log")"
for h in h1 h2; do
	"$BROKER" ca show --bundle | cmp -s - "$D/$h/trusted" || kb_fail "$h does not have the bundle"
	[ "$(changed $h "$D/p1.log")" = 1 ] || kb_fail "$h not changed: $(tail -5 "$D/p1.log")"
done
[ "$(grep -c . "$D/h1/trusted")" = 2 ] || kb_fail "pending bundle on h1"
play h1,h2 "$D/p2.log" old || kb_fail "playbook rerun: $(tail -20 "$D/p2.log")"
[ "$(changed h1 "$D/p2.log")$(changed h2 "$D/p2.log")" = 00 ] || kb_fail "rerun changed a host: $(tail -5 "$D/p2.log")"
kb_pass "rotate: the playbook puts the pending CA on every host; a rerun changes nothing"

OVERLAP=20 # > max_ttl: room for a playbook run (seconds here) inside it
"$BROKER" ca promote --overlap ${OVERLAP}s >/dev/null 2>"$D/err" || kb_fail "ca promote: $(cat "$D/err")"
T0=$(date +%s)
signer_cert new
ssh-keygen -L -f "$D/new-cert.pub" | grep -q "Signing CA: ED25519 $("$BROKER" ca show | ssh-keygen -lf - | cut -d' ' -f2)" ||
	kb_fail "the certificate for Ansible is not from the new CA"
play h1,h2 "$D/p3.log" new || kb_fail "playbook (new-CA certificate) after promote: $(tail -20 "$D/p3.log")"
[ "$(grep -c . "$D/h1/trusted")" = 2 ] && "$BROKER" ca show --bundle | cmp -s - "$D/h2/trusted" ||
	kb_fail "overlap bundle not distributed"
[ "$(date +%s)" -lt $((T0 + OVERLAP)) ] || kb_fail "the overlap was over before the checks (slow machine?)"
SSHD_KNOWN_HOSTS=$D/known_hosts
login() { kb_ssh -o IdentitiesOnly=yes -o IdentityAgent=none -i "$D/$1" "$ME@127.0.0.1" true; }
SSHD_PORT=$(sed -n 's/^h1 .*ansible_port=\([0-9]*\).*/\1/p' "$D/inventory")
login old && login new || kb_fail "overlap: a certificate is refused on h1"
SSHD_PORT=$(sed -n 's/^h3 .*ansible_port=\([0-9]*\).*/\1/p' "$D/inventory")
if play h3 "$D/p4.log" new; then kb_fail "h3 never got the pending CA, yet a new-CA certificate logged in"; fi
grep -q "UNREACHABLE" "$D/p4.log" || kb_fail "h3: $(tail -5 "$D/p4.log")"
kb_pass "promote: Ansible logs in with a new-CA certificate where the pending CA was distributed, not elsewhere"

while [ "$(date +%s)" -le $((T0 + OVERLAP + 1)) ]; do sleep 0.5; done
play h1,h2 "$D/p5.log" new || kb_fail "playbook after the overlap: $(tail -20 "$D/p5.log")"
for h in h1 h2; do
	[ "$(grep -c . "$D/$h/trusted")" = 1 ] || kb_fail "$h still trusts the old CA after the overlap"
	"$BROKER" ca show | cut -d' ' -f1,2 | grep -qxF "$(cut -d' ' -f1,2 "$D/$h/trusted")" || kb_fail "$h: not the new CA"
done
SSHD_PORT=$(sed -n 's/^h1 .*ansible_port=\([0-9]*\).*/\1/p' "$D/inventory")
if login old 2>/dev/null; then kb_fail "after the overlap the old-CA certificate still logs in"; fi
login new || kb_fail "after the overlap the new-CA certificate is refused"
kb_pass "after the overlap: the playbook leaves only the new CA on the hosts"
