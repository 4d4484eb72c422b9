# KRLs both ways with the real ssh-keygen:
#  - KRLs we write (serial, range, key id per CA and for any CA, explicit
#    key, SHA256 fingerprint) -> `ssh-keygen -Q` gives the expected verdict
#    for every key and certificate (exit 1 = revoked);
#  - KRLs `ssh-keygen -k` writes (serials, ranges, ids, keys, sha1, sha256,
#    hash, certificate files) -> `broker krl check` gives the same verdicts.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
cd "$T" || exit 1

ssh-keygen -q -t ed25519 -N '' -C ca -f ca || kb_fail keygen
ssh-keygen -q -t ecdsa -N '' -C ca2 -f ca2 || kb_fail keygen
for k in k1 k2 k3 k4 k5 k6 innocent; do ssh-keygen -q -t ed25519 -N '' -C "$k" -f "$k" || kb_fail keygen; done
ssh-keygen -q -t rsa -b 2048 -N '' -C rsa -f krsa || kb_fail keygen
# Certificates: by serial under ca, by id, under the other CA.
cert() { # NAME CA SERIAL ID
	ssh-keygen -q -t ed25519 -N '' -C "$1" -f "$1" || kb_fail keygen
	ssh-keygen -q -s "$2" -I "$4" -n u -z "$3" "$1.pub" || kb_fail "ssh-keygen -s $1"
}
cert s1 ca 1 plain1
cert s5 ca 5 plain5
cert s6 ca 6 plain6
cert s99 ca 99 plain99
cert s100 ca 100 plain100
cert s150 ca 150 plain150
cert s200 ca 200 plain200
cert s201 ca 201 plain201
cert s0 ca 0 zero-serial
cert idbad ca 7 "bad guy"
cert idany ca 8 anyone
cert o5 ca2 5 other5
cert oid ca2 9 "bad guy"
cert oany ca2 10 anyone
files="k1.pub k2.pub k3.pub k4.pub k5.pub k6.pub innocent.pub krsa.pub"
for c in s1 s5 s6 s99 s100 s150 s200 s201 s0 idbad idany o5 oid oany; do files="$files $c-cert.pub"; done

# verdict TOOL KRL FILE -> "revoked" | "ok"
verdict() {
	local rc
	if [ "$1" = ssh-keygen ]; then
		ssh-keygen -Q -f "$2" "$3" >/dev/null 2>&1
		rc=$?
		case $rc in 0) echo ok ;; 1) echo revoked ;; *) echo "error($rc)" ;; esac
	else
		"$BROKER" krl check "$2" "$3" >/dev/null 2>broker.err
		rc=$?
		case $rc in 0) echo ok ;; 6) echo revoked ;; *) echo "error($rc): $(cat broker.err)" ;; esac
	fi
}

compare() { # KRL "REVOKED FILES..."
	local krl=$1 expect=" $2 " f want a b
	for f in $files; do
		want=ok
		case $expect in *" $f "*) want=revoked ;; esac
		a=$(verdict ssh-keygen "$krl" "$f")
		b=$(verdict broker "$krl" "$f")
		[ "$a" = "$want" ] || kb_fail "$krl: ssh-keygen -Q says $a for $f, expected $want"
		[ "$b" = "$want" ] || kb_fail "$krl: broker krl check says $b for $f, expected $want"
	done
}

# --- we write, ssh-keygen reads ---
"$BROKER" krl create -f ours.krl --ca ca.pub --serial 5 --serial 100-200 --id "bad guy" \
	--key k1.pub --hash "$(ssh-keygen -l -f k2.pub | awk '{print $2}')" --key krsa.pub \
	--krl-version 7 --comment "test krl" || kb_fail "krl create"
compare ours.krl "s5-cert.pub s100-cert.pub s150-cert.pub s200-cert.pub idbad-cert.pub k1.pub k2.pub krsa.pub"
kb_pass "our KRL: ssh-keygen -Q agrees (serial, range, key id, key, hash)"
# ssh-keygen's own listing shows our header.
ssh-keygen -Q -l -f ours.krl innocent.pub >list.txt 2>&1 || kb_fail "ssh-keygen -Ql: $(cat list.txt)"
grep -q "# KRL version 7" list.txt && grep -q "serial: 100-200" list.txt && grep -q "id: bad guy" list.txt ||
	kb_fail "ssh-keygen -Q -l listing: $(cat list.txt)"
# Any-CA key id section, and revoking a certificate file by serial, added with -u.
"$BROKER" krl create -u -f ours.krl --id anyone || kb_fail "krl update (any CA)"
"$BROKER" krl create -u -f ours.krl s6-cert.pub || kb_fail "krl update (cert file)"
compare ours.krl "s5-cert.pub s6-cert.pub s100-cert.pub s150-cert.pub s200-cert.pub idbad-cert.pub k1.pub k2.pub krsa.pub idany-cert.pub oany-cert.pub"
"$BROKER" krl inspect ours.krl | grep -q "# KRL version 7" || kb_fail "update lost the version"
kb_pass "our KRL after -u: any-CA key id and certificate file"

# --- ssh-keygen writes, we read ---
{
	echo "serial: 1"
	echo "serial: 0x63-100" # 99-100 (hex, like ssh-keygen accepts)
	echo "serial: 150"
	echo "id: bad guy"
	echo "key: $(cat k3.pub)"
	echo "sha1: $(cat k4.pub)"
	echo "sha256: $(cat k5.pub)"
	echo "hash: $(ssh-keygen -l -f k6.pub | awk '{print $2}')"
} >spec
ssh-keygen -q -k -f theirs.krl -s ca.pub -z 3 spec s201-cert.pub s0-cert.pub 2>/dev/null || kb_fail "ssh-keygen -k"
compare theirs.krl "s1-cert.pub s99-cert.pub s100-cert.pub s150-cert.pub s201-cert.pub s0-cert.pub idbad-cert.pub k3.pub k4.pub k5.pub k6.pub"
"$BROKER" krl inspect theirs.krl >inspect.txt || kb_fail "krl inspect"
grep -q "# KRL version 3" inspect.txt && grep -q "serial: 99-100" inspect.txt && grep -q "id: zero-serial" inspect.txt ||
	kb_fail "krl inspect: $(cat inspect.txt)"
"$BROKER" --json krl inspect theirs.krl | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["krl_version"] == 3, j
assert len(j["sha1"]) == 1 and len(j["sha256"]) == 2 and len(j["keys"]) == 1, j
c = j["certificates"][0]
assert "99-100" in c["serials"] and "bad guy" in c["key_ids"], j
' || kb_fail "krl inspect --json"
kb_pass "ssh-keygen's KRL: broker agrees (serials incl. bitmap, ids, key, sha1, sha256, hash)"

# Plain public-key files (no spec): a dense set of serials makes ssh-keygen
# choose a bitmap; keys go in as explicit keys.
cat s1-cert.pub s5-cert.pub s6-cert.pub s99-cert.pub innocent.pub >plain.lst
ssh-keygen -q -k -f bitmap.krl plain.lst 2>/dev/null || kb_fail "ssh-keygen -k plain list"
compare bitmap.krl "s1-cert.pub s5-cert.pub s6-cert.pub s99-cert.pub innocent.pub"
kb_pass "ssh-keygen KRL from key files (bitmap) agrees"

# broker krl check: several files at once, exit 6 when any is revoked.
"$BROKER" krl check ours.krl innocent.pub s5-cert.pub >multi.txt
[ $? -eq 6 ] || kb_fail "krl check exit status with a revoked file"
grep -q "^innocent.pub (innocent): ok" multi.txt && grep -q "^s5-cert.pub (s5): REVOKED: certificate serial 5" multi.txt ||
	kb_fail "krl check output: $(cat multi.txt)"
"$BROKER" --json krl check ours.krl s5-cert.pub | python3 -c '
import json, sys
j = json.loads(sys.stdin.readline())
assert j["revoked"] is True and j["certificate"] is True and "serial 5" in j["reason"], j
' || kb_fail "krl check --json"
# A corrupt KRL: one-line error, exit 1.
head -c 40 ours.krl >bad.krl
"$BROKER" krl check bad.krl innocent.pub 2>err.txt && kb_fail "truncated KRL accepted"
[ "$(wc -l <err.txt)" -eq 1 ] || kb_fail "error is not one line: $(cat err.txt)"
kb_pass "krl check output, JSON and errors"
