#!/usr/bin/env bash
# Keybroker demo (the README's "main job" for now):
#   installs what is missing, builds, then in a temporary directory
#   1. generates a CA key and a user key with `broker key generate`,
#   2. signs a short-lived user certificate with `broker cert sign`,
#   3. shows that `ssh-keygen -L` accepts and reads it,
#   4. starts a real sshd on 127.0.0.1 that trusts the CA and logs in with
#      the certificate over ssh,
#   5. revokes the certificate with `broker krl create` and shows sshd
#      refusing it,
#   and cleans up.  Works as root and as an ordinary user.
# Usage: bash scripts/demo.sh [BUILDDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
builddir=${1:-build}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Installing dependencies (scripts/install-deps.sh)"
if [ "$(id -u)" -eq 0 ]; then
	bash scripts/install-deps.sh
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	sudo bash scripts/install-deps.sh
else
	bash scripts/install-deps.sh || {
		echo "demo: run 'sudo bash scripts/install-deps.sh' once, then run the demo again" >&2
		exit 1
	}
fi

step "Building ($builddir)"
bash scripts/build.sh "$builddir"
broker=$root/$builddir/broker/broker
[ -x "$broker" ] || { echo "demo: $broker was not built" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/keybroker-demo.XXXXXX")
chmod 0700 "$work"
sshd_pid=
cleanup() {
	[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null && wait "$sshd_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
me=$(id -un)

step "1. Generate a CA key and a user key with broker"
run "$broker" key generate -t ed25519 -f ca -C "demo user CA"
run "$broker" key generate -t ed25519 -f id_user -C "$me@demo"
run "$broker" key fingerprint ca.pub

step "2. Sign a 30-minute user certificate for principal '$me'"
run "$broker" cert sign --ca ca -f id_user.pub -I "$me@demo" -n "$me" -V +30m -z 1
run "$broker" cert inspect id_user-cert.pub

step "3. ssh-keygen accepts and reads the certificate"
run ssh-keygen -L -f id_user-cert.pub

step "4. Start sshd on 127.0.0.1 trusting the CA, and log in with the certificate"
ssh-keygen -q -t ed25519 -N '' -f host_key
"$broker" krl create -f revoked.krl
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat >sshd_config <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
TrustedUserCAKeys $work/ca.pub
RevokedKeys $work/revoked.krl
AuthorizedKeysFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
LogLevel VERBOSE
EOF
echo "sshd_config: TrustedUserCAKeys $work/ca.pub, RevokedKeys $work/revoked.krl, port $port"
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
/usr/sbin/sshd -t -f sshd_config
/usr/sbin/sshd -D -e -f sshd_config 2>sshd.log &
sshd_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.05
done
echo "[127.0.0.1]:$port $(cat host_key.pub)" >known_hosts
ssh_demo() {
	ssh -F /dev/null -p "$port" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$work/known_hosts" -o IdentitiesOnly=yes -o IdentityAgent=none \
		-i id_user -o CertificateFile=id_user-cert.pub "$me@127.0.0.1" "$@"
}
printf '$ ssh -i id_user -o CertificateFile=id_user-cert.pub %s@127.0.0.1 ...\n' "$me"
ssh_demo 'echo "logged in as $(id -un) on $(hostname) with a Keybroker certificate"'
grep -m1 "Accepted publickey" sshd.log | sed 's/^/sshd: /'

step "5. Revoke the certificate (serial 1) with a KRL: sshd now refuses it"
run "$broker" krl create -f revoked.krl --ca ca.pub --serial 1
run "$broker" krl check revoked.krl id_user-cert.pub || true
if ssh_demo true 2>/dev/null; then
	echo "demo: sshd accepted a revoked certificate" >&2
	exit 1
fi
echo "ssh: login refused, as it should be"
grep -m1 -i "revoked" sshd.log | sed 's/^/sshd: /' || true

step "Done: the temporary directory and sshd are cleaned up"
