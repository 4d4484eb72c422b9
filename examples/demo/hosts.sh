# Shared by run.sh and the integration tests (source it):
#   demo_start_hosts DIR CA_PUB PRINCIPAL  -> three sshd on 127.0.0.11-13:$DEMO_PORT
#       (zones eu-west-1a/b/c), trusting only CA_PUB for PRINCIPAL; writes
#       DIR/known_hosts; appends the sshd pids to the array DEMO_PIDS.
#   demo_write_state FILE                  -> a terraform.tfstate (v4) describing them.
DEMO_PIDS=()

demo_start_hosts() {
	local dir=$1 ca=$2 principal=$3 i z h ip
	[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
	DEMO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.11",0)); print(s.getsockname()[1]); s.close()')
	: >"$dir/known_hosts"
	for i in 1 2 3; do
		z=$(echo abc | cut -c$i)
		h=$dir/hosts/web-$z
		ip=127.0.0.1$i
		mkdir -p "$h"
		ssh-keygen -q -t ed25519 -N '' -C "host web-$z" -f "$h/host_ed25519"
		echo "$principal" >"$h/principals"
		cat >"$h/sshd_config" <<CFG
ListenAddress $ip:$DEMO_PORT
HostKey $h/host_ed25519
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile none
TrustedUserCAKeys $ca
AuthorizedPrincipalsFile $h/principals
PermitRootLogin prohibit-password
KexAlgorithms curve25519-sha256
LogLevel VERBOSE
Subsystem sftp internal-sftp
CFG
		/usr/sbin/sshd -t -f "$h/sshd_config" || return 1
		/usr/sbin/sshd -D -e -f "$h/sshd_config" 2>"$h/sshd.log" &
		DEMO_PIDS+=($!)
		echo "[$ip]:$DEMO_PORT $(cat "$h/host_ed25519.pub")" >>"$dir/known_hosts"
	done
	for i in 1 2 3; do
		local n=0
		until (exec 3<>"/dev/tcp/127.0.0.1$i/$DEMO_PORT") 2>/dev/null; do
			n=$((n + 1))
			[ $n -lt 200 ] || { echo "sshd on 127.0.0.1$i did not start" >&2; return 1; }
			sleep 0.05
		done
	done
}

demo_write_state() {
	python3 - "$1" "$DEMO_PORT" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
insts = []
for i, z in enumerate("abc"):
    insts.append({"index_key": i, "schema_version": 1, "attributes": {
        "id": "i-0de70000000000%03x" % (i + 1), "ami": "ami-0demo", "instance_type": "t3.micro",
        "availability_zone": "eu-west-1" + z, "instance_state": "running",
        "public_ip": "", "private_ip": "127.0.0.1%d" % (i + 1),
        "tags": {"Name": "web-" + z, "Role": "web", "SSHPort": port},
        "tags_all": {"Name": "web-" + z, "Role": "web", "SSHPort": port, "Project": "keybroker-demo"}}})
state = {"version": 4, "terraform_version": "1.5.7", "serial": 1, "lineage": "keybroker-demo",
         "outputs": {}, "resources": [
             {"mode": "managed", "type": "aws_instance", "name": "web",
              "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]", "instances": insts}]}
json.dump(state, open(path, "w"), indent=1)
PY
}

# ansible.cfg for the demo hosts: strict host keys from DIR/known_hosts,
# connection sharing, pipelining; no identity file anywhere.
demo_write_ansible_cfg() {
	local dir=$1
	mkdir -p "$dir/ansible/tmp"
	cat >"$dir/ansible.cfg" <<CFG
[defaults]
host_key_checking = True
forks = 3
[ssh_connection]
pipelining = True
ssh_args = -F /dev/null -o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o ControlMaster=auto -o ControlPersist=10s -o ControlPath=$dir/ansible/cp-%%C -o KexAlgorithms=curve25519-sha256
CFG
}

# Ends ssh connection-sharing masters Ansible left (ControlPersist).
demo_stop_mux() {
	local s
	for s in "$1"/ansible/cp-*; do
		[ -S "$s" ] && ssh -o ControlPath="$s" -O exit placeholder >/dev/null 2>&1
	done
	return 0
}
