# Certificates both ways with the real ssh-keygen, for every CA key type:
#  - we sign (user and host, with options) -> `ssh-keygen -L` shows exactly
#    what `broker cert inspect` shows, and the fields we asked for;
#  - ssh-keygen -s signs (user and host) -> we parse and verify them and
#    print the same as `ssh-keygen -L`; bit-flipped copies are refused.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
cd "$T" || exit 1

# A stable local time zone so both tools print the same times.
export TZ=UTC

flip() { # FILE OFFSET -> FILE.flip with one bit flipped in the decoded blob
	python3 - "$1" "$2" <<'PY'
import base64, sys
path, off = sys.argv[1], int(sys.argv[2])
t, b64, *rest = open(path).read().split()
blob = bytearray(base64.b64decode(b64))
off = off % len(blob)
blob[off] ^= 0x10
open(path + ".flip", "w").write(" ".join([t, base64.b64encode(bytes(blob)).decode()] + rest) + "\n")
PY
}

bloblen() { python3 -c 'import base64,sys; print(len(base64.b64decode(open(sys.argv[1]).read().split()[1])))' "$1"; }

same_as_sshkeygen() { # CERTFILE
	ssh-keygen -L -f "$1" >want.txt 2>&1 || kb_fail "ssh-keygen -L rejects $1: $(cat want.txt)"
	"$BROKER" cert inspect "$1" >got.txt 2>&1 || kb_fail "broker cert inspect rejects $1: $(cat got.txt)"
	diff -u want.txt got.txt || kb_fail "broker cert inspect differs from ssh-keygen -L for $1"
}

n=0
for spec in "ed25519:" "ecdsa:256" "ecdsa:384" "ecdsa:521" "rsa:2048" "rsa:3072" "dsa:1024"; do
	t=${spec%%:*} bits=${spec#*:}
	name=$t$bits
	ssh-keygen -q -t "$t" ${bits:+-b "$bits"} -N '' -C "ca-$name" -f "ca_$name" || kb_fail "keygen $name"
	ssh-keygen -q -t "$t" ${bits:+-b "$bits"} -N '' -C "user-$name@test" -f "user_$name" || kb_fail "keygen"
	ssh-keygen -q -t "$t" ${bits:+-b "$bits"} -N '' -C "host-$name" -f "host_$name" || kb_fail "keygen"

	# --- we sign, ssh-keygen reads ---
	"$BROKER" cert sign --ca "ca_$name" -f "user_$name.pub" -I "key id $name" -n alice,bob,deploy \
		-V -5m:+1h -z 42 -O "force-command=/bin/echo hi there" -O source-address=10.0.0.0/8,::1,192.0.2.7 \
		-O no-pty -O verify-required -O no-touch-required -O extension:custom@example.com=value \
		-O critical:flag@example.com 2>sign.err || kb_fail "broker cert sign ($name): $(cat sign.err)"
	grep -q "Signed user key user_$name-cert.pub: id \"key id $name\" serial 42 for alice,bob,deploy valid from" sign.err ||
		kb_fail "sign message: $(cat sign.err)"
	same_as_sshkeygen "user_$name-cert.pub"
	# The fields themselves, as ssh-keygen sees them.
	for want in "user certificate" "Key ID: \"key id $name\"" "Serial: 42" "                alice" \
		"                deploy" "force-command /bin/echo hi there" \
		"source-address 10.0.0.0/8,::1,192.0.2.7" "                verify-required" \
		"flag@example.com UNKNOWN FLAG OPTION" "custom@example.com UNKNOWN OPTION: 0000000576616c7565 (len 9)" \
		"                no-touch-required" "                permit-agent-forwarding"; do
		grep -qF -- "$want" want.txt || kb_fail "ssh-keygen -L lacks '$want' ($name): $(cat want.txt)"
	done
	grep -q "permit-pty" want.txt && kb_fail "no-pty ignored"
	case $t in rsa) grep -q "(using rsa-sha2-512)" want.txt || kb_fail "RSA CA must sign with rsa-sha2-512" ;; esac
	[ "$(ssh-keygen -l -f "user_$name-cert.pub" | awk '{print $2}')" = "$(ssh-keygen -l -f "user_$name.pub" | awk '{print $2}')" ] ||
		kb_fail "certificate fingerprint"
	grep -q " user-$name@test$" "user_$name-cert.pub" || kb_fail "comment not kept"

	# Host certificate, default validity (forever), no options.
	"$BROKER" -q cert sign --ca "ca_$name" --host -f "host_$name.pub" -I "host $name" -n "web1.example.com,10.0.0.5" ||
		kb_fail "host sign"
	same_as_sshkeygen "host_$name-cert.pub"
	grep -q "host certificate" want.txt && grep -q "Valid: forever" want.txt && grep -q "Extensions: (none)" want.txt ||
		kb_fail "host cert fields: $(cat want.txt)"

	# --- ssh-keygen signs, we read and verify ---
	ssh-keygen -q -s "ca_$name" -I "theirs $name" -n carol -V +1h -z 77 -O clear -O permit-pty \
		-O source-address=127.0.0.1 "user_$name.pub" || kb_fail "ssh-keygen -s"
	same_as_sshkeygen "user_$name-cert.pub"
	ssh-keygen -q -s "ca_$name" -I "theirs host $name" -h -n "h.example.com" -V always:forever "host_$name.pub" ||
		kb_fail "ssh-keygen -s -h"
	same_as_sshkeygen "host_$name-cert.pub"
	"$BROKER" --json cert inspect "user_$name-cert.pub" >got.json || kb_fail "inspect --json"
	python3 - got.json "$name" <<'PY' || kb_fail "JSON fields ($name)"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["key_id"] == "theirs " + sys.argv[2], j
assert j["serial"] == 77 and j["cert_type"] == "user", j
assert j["principals"] == ["carol"], j
assert j["critical_options"] == {"source-address": "127.0.0.1"}, j
assert j["extensions"] == {"permit-pty": True}, j
assert j["public_key"]["fingerprint"].startswith("SHA256:"), j
PY
	if [ "$t" = rsa ]; then
		for alg in rsa-sha2-256 ssh-rsa; do
			ssh-keygen -q -s "ca_$name" -t "$alg" -I rsa-$alg -n x "user_$name.pub" || kb_fail "ssh-keygen -t $alg"
			same_as_sshkeygen "user_$name-cert.pub"
			grep -q "(using $alg)" got.txt || kb_fail "sig alg $alg"
			"$BROKER" -q cert sign --ca "ca_$name" -t "$alg" -f "host_$name.pub" -I ours-$alg ||
				kb_fail "broker -t $alg"
			same_as_sshkeygen "host_$name-cert.pub"
			grep -q "(using $alg)" want.txt || kb_fail "our sig alg $alg"
		done
	fi

	# Bit flips anywhere in the blob: we must refuse every one.
	len=$(bloblen "user_$name-cert.pub")
	for off in 0 20 40 60 100 $((len / 2)) $((len - 70)) $((len - 30)) $((len - 1)); do
		flip "user_$name-cert.pub" "$off"
		if "$BROKER" cert inspect "user_$name-cert.pub.flip" >/dev/null 2>flip.err; then
			kb_fail "bit flip at $off accepted ($name)"
		fi
		[ "$(wc -l <flip.err)" -ge 1 ] || kb_fail "no error message for flip"
	done
	n=$((n + 1))
	kb_pass "$name CA: both directions"
done
[ $n -eq 7 ] || kb_fail "only $n CA types ran"
echo "all CA types ok"
