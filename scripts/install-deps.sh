#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test Keybroker.
# Idempotent: installs only missing packages, runs apt-get update only then.
set -euo pipefail

packages=(
	# build
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev libfuzzer-14-dev scdoc git
	# libraries
	libsodium-dev libssl-dev libcurl4-openssl-dev libjansson-dev libssh2-1-dev
	# real components the tests drive
	openssh-client openssh-server openssh-tests ansible-core sudo curl
	python3 python3-flask gunicorn iproute2 procps psmisc gdb util-linux
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages: ${missing[*]}" >&2
		echo "install-deps: run as root (or with sudo) to install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# sshd refuses to start without its privilege-separation directory.
if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd && chmod 0755 /run/sshd; fi

# moto_server comes from the machine's pyenv Python (no PyPI here).
if ! command -v moto_server >/dev/null 2>&1; then
	echo "install-deps: warning: moto_server not found on PATH; the AWS tests will fail" >&2
fi
echo "install-deps: all dependencies present"
