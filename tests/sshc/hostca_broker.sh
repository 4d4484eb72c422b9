#!/usr/bin/env bash
# broker static create --install and broker rotate against a host known only
# through a host CA (@cert-authority in known_hosts, the host's certificate
# found through KEYBROKER_HOST_CERTS); a host whose certificate is by an
# untrusted CA gets nothing installed.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/rotate/lib.sh"
kb_tmpdir D
rot_setup "$D"
CRED=keybroker/static/db
H=$D/h1
mkdir -p "$H/keys"
ssh-keygen -q -t ed25519 -N '' -f "$D/ca" -C ca </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$D/ca2" -C ca2 </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$H/host_ed25519" </dev/null
ssh-keygen -q -s "$D/ca" -h -I h1 -n 127.0.0.1 -V -5m:+1h "$H/host_ed25519.pub" 2>/dev/null || kb_fail "ssh-keygen -h"
kb_sshd_start "$H" "HostCertificate $H/host_ed25519-cert.pub" "SetEnv HOME=$H" "Match all" \
	"AuthorizedKeysFile $H/keys/%u.keys"
PORTS=([1]=$SSHD_PORT)
KH=$D/known_hosts
echo "@cert-authority [127.0.0.1]:* $(cut -d' ' -f1,2 "$D/ca.pub")" >"$KH"
HOSTOPTS=(--known-hosts "$KH" --authorized-keys 'keys/%u.keys' --connect-timeout 5 --command-timeout 10)
export KEYBROKER_HOST_CERTS=$H/host_ed25519-cert.pub

ssh-keygen -q -t ed25519 -N '' -C bootstrap -f "$D/boot"
cp "$D/boot.pub" "$H/keys/$ME.keys"
eval "$(ssh-agent -s -a "$D/run/boot.sock")" >/dev/null
kb_cleanup_add "kill $SSH_AGENT_PID"
ssh-add -q "$D/boot" 2>/dev/null || kb_fail "ssh-add bootstrap"

"$BROKER" static create db --target "$ME@127.0.0.1:$SSHD_PORT" --install "${HOSTOPTS[@]}" >/dev/null \
	2>"$D/create.err" || kb_fail "static create --install via host CA: $(cat "$D/create.err")"
grep -q "$(rot_blob current)" "$H/keys/$ME.keys" || kb_fail "new key not installed: $(cat "$H/keys/$ME.keys")"
rot_login current 1 || kb_fail "the installed key does not log in (ssh with the CA line)"
kb_pass "static create --install on a host trusted through @cert-authority"

OLD=$(rot_blob current)
unset SSH_AUTH_SOCK
"$BROKER" rotate --credential db "${HOSTOPTS[@]}" >/dev/null 2>"$D/rot.err" ||
	kb_fail "rotate via host CA: $(cat "$D/rot.err")"
NEW=$(rot_blob current)
[ "$NEW" != "$OLD" ] || kb_fail "rotate did not change the key"
grep -q "$NEW" "$H/keys/$ME.keys" || kb_fail "rotated key not on the host"
grep -q "$OLD" "$H/keys/$ME.keys" && kb_fail "old key still on the host"
rot_login current 1 || kb_fail "the rotated key does not log in"
kb_pass "broker rotate on a host trusted through @cert-authority"

# The known_hosts now trusts another CA only: rotation is refused before
# anything is written on the host.
echo "@cert-authority [127.0.0.1]:* $(cut -d' ' -f1,2 "$D/ca2.pub")" >"$KH"
cp "$H/keys/$ME.keys" "$D/keys.before"
"$BROKER" rotate --credential db "${HOSTOPTS[@]}" >/dev/null 2>"$D/rot2.err" &&
	kb_fail "rotate against a host with an untrusted host CA succeeded"
grep -q "no @cert-authority line" "$D/rot2.err" || kb_fail "rotate error does not name the CA check: $(cat "$D/rot2.err")"
cmp -s "$H/keys/$ME.keys" "$D/keys.before" || kb_fail "authorized_keys changed on a refused host"
kb_pass "rotate refused (nothing written) when the host certificate's CA is not trusted"
