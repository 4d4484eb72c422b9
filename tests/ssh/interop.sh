#!/usr/bin/env bash
# Interop of lib/ssh and `broker key` with OpenSSH's ssh-keygen, both ways:
#  - keys we write: ssh-keygen -y gives the same public key, -l the same line;
#  - keys ssh-keygen writes (every type, plain and -N encrypted with
#    aes256-ctr and aes256-gcm, and certificates): we print what it prints;
#  - signatures: ours verified by ssh-keygen -Y verify, its ours to check.
# Usage: interop.sh SSHSIG_TOOL
. "$KB_TESTLIB/common.sh"
set -u
SIGTOOL=$(realpath "$1")
kb_tmpdir T
cd "$T" || exit 1

# ---- keys we write -------------------------------------------------------
for t in ed25519 ecdsa-p256 ecdsa-p384 ecdsa-p521 rsa-2048 rsa-3072 rsa-4096; do
	"$BROKER" key generate -q -t "$t" -f "ours_$t" -C "ours $t" >/dev/null || kb_fail "generate $t"
	[ "$(stat -c %a "ours_$t")" = 600 ] || kb_fail "$t: private key mode $(stat -c %a "ours_$t")"
	pub=$(ssh-keygen -y -f "ours_$t") || kb_fail "ssh-keygen -y cannot read our $t key"
	[ "$pub" = "$(cat "ours_$t.pub")" ] || kb_fail "$t: ssh-keygen -y gives '$pub', .pub has '$(cat "ours_$t.pub")'"
	for f in "ours_$t" "ours_$t.pub"; do
		a=$("$BROKER" key fingerprint "$f") || kb_fail "broker key fingerprint $f"
		b=$(ssh-keygen -l -f "$f") || kb_fail "ssh-keygen -l $f"
		[ "$a" = "$b" ] || kb_fail "$f: fingerprint '$a' vs ssh-keygen '$b'"
	done
	# Without the .pub, ssh-keygen -l reads the private file (comment inside).
	mv "ours_$t.pub" "ours_$t.pub.bak"
	[ "$("$BROKER" key fingerprint "ours_$t")" = "$(ssh-keygen -l -f "ours_$t")" ] || kb_fail "$t: fingerprint without .pub"
	mv "ours_$t.pub.bak" "ours_$t.pub"
	# A signature we make, checked by ssh-keygen.
	echo "message for $t" >msg
	"$SIGTOOL" sign "ours_$t" file <msg >msg.sig || kb_fail "$t: sshsig sign"
	echo "signer $(cut -d' ' -f1,2 "ours_$t.pub")" >allowed
	ssh-keygen -Y verify -f allowed -I signer -n file -s msg.sig <msg >/dev/null 2>&1 ||
		kb_fail "$t: ssh-keygen -Y verify rejects our signature"
	echo tampered >>msg
	! ssh-keygen -Y verify -f allowed -I signer -n file -s msg.sig <msg >/dev/null 2>&1 ||
		kb_fail "$t: ssh-keygen accepted a signature over other data"
	kb_pass "$t: written by us, read and verified by ssh-keygen"
done

# Encrypted keys we write open with ssh-keygen's passphrase handling.
"$BROKER" key generate -q -t ed25519 -N 'pass phrase' -f ours_enc >/dev/null || kb_fail "generate -N"
[ "$(ssh-keygen -y -P 'pass phrase' -f ours_enc)" = "$(cat ours_enc.pub)" ] || kb_fail "ssh-keygen cannot open our encrypted key"
! ssh-keygen -y -P 'wrong' -f ours_enc >/dev/null 2>&1 || kb_fail "ssh-keygen opened our key with a wrong passphrase"
printf 'from a file\n' >passfile
"$BROKER" key generate -q -t ecdsa-p256 --passphrase-file passfile -f ours_enc2 >/dev/null || kb_fail "generate --passphrase-file"
[ "$(ssh-keygen -y -P 'from a file' -f ours_enc2)" = "$(cat ours_enc2.pub)" ] || kb_fail "--passphrase-file key"
[ "$("$BROKER" key public --passphrase-file passfile ours_enc2)" = "$(cat ours_enc2.pub)" ] || kb_fail "public --passphrase-file"
kb_pass "encrypted key written by us opened by ssh-keygen"

# ---- keys ssh-keygen writes ------------------------------------------------
gen() { # NAME ssh-keygen-args...
	local n=$1
	shift
	ssh-keygen -q "$@" -C "theirs $n" -f "theirs_$n" </dev/null >/dev/null 2>&1 || kb_fail "ssh-keygen $*"
}
gen ed25519 -t ed25519 -N ''
gen p256 -t ecdsa -b 256 -N ''
gen p384 -t ecdsa -b 384 -N ''
gen p521 -t ecdsa -b 521 -N ''
gen rsa2048 -t rsa -b 2048 -N ''
gen rsa3072 -t rsa -b 3072 -N ''
gen rsa4096 -t rsa -b 4096 -N ''
gen dsa -t dsa -N ''
for n in ed25519 p256 p384 p521 rsa2048 rsa3072 rsa4096 dsa; do
	a=$("$BROKER" key public "theirs_$n") || kb_fail "we cannot read ssh-keygen's $n key"
	[ "$a" = "$(ssh-keygen -y -f "theirs_$n")" ] || kb_fail "$n: public key differs"
	[ "$a" = "$(cat "theirs_$n.pub")" ] || kb_fail "$n: public key differs from .pub"
	for f in "theirs_$n" "theirs_$n.pub"; do
		[ "$("$BROKER" key fingerprint "$f")" = "$(ssh-keygen -l -f "$f")" ] || kb_fail "$f: fingerprint differs"
	done
	# Certificates ssh-keygen signs for it: same -l line.
	ssh-keygen -q -s theirs_ed25519 -I "id-$n" -n alice -V +1h "theirs_$n.pub" || kb_fail "ssh-keygen -s"
	[ "$("$BROKER" key fingerprint "theirs_$n-cert.pub")" = "$(ssh-keygen -l -f "theirs_$n-cert.pub")" ] ||
		kb_fail "$n: certificate fingerprint differs"
	# A signature by ssh-keygen, verified by us (and not over other data).
	rm -f msg.sig
	echo "their message $n" >msg
	ssh-keygen -q -Y sign -f "theirs_$n" -n file msg >/dev/null 2>&1 || kb_fail "$n: ssh-keygen -Y sign"
	"$SIGTOOL" verify "theirs_$n.pub" file msg.sig <msg || kb_fail "$n: we reject ssh-keygen's signature"
	echo x >>msg
	! "$SIGTOOL" verify "theirs_$n.pub" file msg.sig <msg 2>/dev/null || kb_fail "$n: we accept a bad signature"
	rm -f msg.sig
	kb_pass "$n: written by ssh-keygen, read and verified by us"
done

# Encrypted by ssh-keygen -N: right passphrase opens, wrong does not.
for z in aes256-ctr aes256-gcm@openssh.com; do
	for t in ed25519 rsa; do
		rm -f "enc_$t" "enc_$t.pub"
		ssh-keygen -q -t "$t" -N 'sekrit' -Z "$z" -C "enc $t" -f "enc_$t" </dev/null >/dev/null 2>&1 || kb_fail "ssh-keygen -Z $z"
		[ "$("$BROKER" key public -P sekrit "enc_$t")" = "$(cat "enc_$t.pub")" ] || kb_fail "$z $t: cannot open"
		out=$("$BROKER" key public -P wrong "enc_$t" 2>&1) && kb_fail "$z $t: wrong passphrase accepted"
		case $out in *"incorrect passphrase"*) ;; *) kb_fail "$z $t: wrong passphrase message: $out" ;; esac
		out=$("$BROKER" key public "enc_$t" 2>&1) && kb_fail "$z $t: opened without passphrase"
		# -l still works from the clear public part (no .pub, no comment).
		mv "enc_$t.pub" "enc_$t.pub.bak"
		[ "$("$BROKER" key fingerprint "enc_$t")" = "$(ssh-keygen -l -f "enc_$t")" ] || kb_fail "$z $t: fingerprint of encrypted key"
		mv "enc_$t.pub.bak" "enc_$t.pub"
	done
	kb_pass "ssh-keygen -N -Z $z keys open with the right passphrase only"
done

# An authorized_keys file with options and several keys: same lines as -l.
{ echo "# comment line"; echo "command=\"echo a b\",no-pty $(cat theirs_ed25519.pub)"; cat theirs_rsa2048.pub ours_ecdsa-p521.pub; } >ak
[ "$("$BROKER" key fingerprint ak)" = "$(ssh-keygen -l -f ak)" ] || kb_fail "authorized_keys fingerprints differ"
kb_pass "authorized_keys file with options"

# ---- errors: one line, non-zero, nothing written ---------------------------
echo "garbage" >bad
out=$("$BROKER" key fingerprint bad 2>&1) && kb_fail "garbage accepted"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || kb_fail "multi-line error: $out"
head -c 200 theirs_ed25519 >trunc
"$BROKER" key public trunc >/dev/null 2>&1 && kb_fail "truncated key accepted"
"$BROKER" key generate -t ed999 -f nope >/dev/null 2>&1 && kb_fail "unknown type accepted"
[ ! -e nope ] && [ ! -e nope.pub ] || kb_fail "files written on error"
"$BROKER" key generate -q -t ed25519 -f ours_ed25519 >/dev/null 2>&1 && kb_fail "overwrote without --force"
[ "$(ssh-keygen -y -f ours_ed25519)" = "$(cat ours_ed25519.pub)" ] || kb_fail "refused overwrite changed the files"
"$BROKER" key generate -q -t ed25519 -f ours_ed25519 --force -C forced >/dev/null || kb_fail "--force"
grep -q forced ours_ed25519.pub || kb_fail "--force did not write"
mkdir ro && chmod 0500 ro
if [ "$(id -u)" != 0 ]; then
	"$BROKER" key generate -q -t ed25519 -f ro/k >/dev/null 2>&1 && kb_fail "wrote into a read-only directory"
fi
json=$("$BROKER" --json key fingerprint theirs_rsa2048)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["bits"]==2048 and d["fingerprint"].startswith("SHA256:")' "$json" ||
	kb_fail "--json output: $json"
kb_pass "errors and --json"
