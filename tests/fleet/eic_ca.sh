#!/bin/bash
# eic_ca.sh DIR [REGION] [DOMAIN]: a test PKI for the EC2 Instance Connect
# emulator, made with the openssl CLI:
#   root.pem (trust anchor) -> int.pem (intermediate) -> signer.pem
#   (CN managed-ssh-signer.REGION.DOMAIN, RSA, the key that signs entries);
#   chain.pem = signer + intermediate, as the metadata serves it;
#   ocsp/<SHA1> = DER OCSP responses for signer (by int) and int (by root);
#   ocsp-revoked/<SHA1> = the signer's staple saying "revoked";
#   rogue-root.pem + rogue-chain.pem: a chain that does not reach root.pem.
set -euo pipefail
D=$1 REGION=${2:-eu-west-1} DOMAIN=${3:-amazonaws.com}
mkdir -p "$D/ocsp" "$D/ocsp-revoked"
cd "$D"
cat >ext.cnf <<CNF
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
CNF
q() { "$@" >/dev/null 2>&1 || { echo "eic_ca.sh: failed: $*" >&2; "$@"; exit 1; }; }
mkroot() { # NAME CN
	q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 3 -subj "/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
mkcert() { # NAME CN ISSUER SECTION
	q openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
	q openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 2 -extfile ext.cnf -extensions "$4" -out "$1.pem"
}
mkroot root "Keybroker Test Root"
mkcert int "Keybroker Test Intermediate" root ca
mkcert signer "managed-ssh-signer.$REGION.$DOMAIN" int leaf
cat signer.pem int.pem >chain.pem
mkroot rogue-root "Keybroker Rogue Root"
mkcert rogue-int "Keybroker Test Intermediate" rogue-root ca
mkcert rogue-signer "managed-ssh-signer.$REGION.$DOMAIN" rogue-int leaf
cat rogue-signer.pem rogue-int.pem >rogue-chain.pem
mkcert wrongcn "managed-ssh-signer.us-east-1.$DOMAIN" int leaf
cat wrongcn.pem int.pem >wrongcn-chain.pem

# OCSP: an index per CA, a request per certificate, a response signed by the issuer.
index_line() { # STATUS CERT
	local serial subj exp
	serial=$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)
	subj=$(openssl x509 -in "$2" -noout -subject -nameopt compat | sed 's/^subject=//')
	exp=$(date -u -d '+2 days' +%y%m%d%H%M%SZ)
	if [ "$1" = R ]; then
		printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$exp" "$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)" "$serial" "$subj"
	else
		printf 'V\t%s\t\t%s\tunknown\t%s\n' "$exp" "$serial" "$subj"
	fi
}
staple() { # CERT ISSUER INDEX OUTDIR
	local fp
	fp=$(openssl x509 -in "$1.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
	q openssl ocsp -issuer "$2.pem" -cert "$1.pem" -no_nonce -reqout "$1.req"
	q openssl ocsp -index "$3" -rsigner "$2.pem" -rkey "$2.key" -CA "$2.pem" -reqin "$1.req" \
		-respout "$4/$fp" -ndays 1
}
index_line V int.pem >root.index
index_line V signer.pem >int.index
index_line R signer.pem >int-revoked.index
staple int root root.index ocsp
staple signer int int.index ocsp
staple int root root.index ocsp-revoked
staple signer int int-revoked.index ocsp-revoked
