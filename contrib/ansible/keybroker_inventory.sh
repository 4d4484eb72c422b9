#!/bin/sh
# Ansible dynamic inventory from Terraform state, through Keybroker.
#
#   BROKER_TF_STATE=terraform.tfstate ansible -i contrib/ansible/keybroker_inventory.sh all -m ping
#
# Environment:
#   BROKER_TF_STATE   terraform.tfstate (v4) or `terraform show -json` output (required)
#   BROKER_ROLE       set ansible_user to this role's first principal (optional)
#   BROKER_ANSIBLE_USER  set ansible_user to this name (optional; not with BROKER_ROLE)
#   BROKER            the broker binary (default: broker on PATH)
# Ansible calls the script with --list (or --host HOST); both pass through.
set -eu
if [ -z "${BROKER_TF_STATE:-}" ]; then
	echo "keybroker_inventory: set BROKER_TF_STATE to a Terraform state file" >&2
	exit 2
fi
set -- inventory --terraform-state "$BROKER_TF_STATE" "$@"
if [ -n "${BROKER_ROLE:-}" ]; then
	set -- "$@" --role "$BROKER_ROLE"
elif [ -n "${BROKER_ANSIBLE_USER:-}" ]; then
	set -- "$@" --user "$BROKER_ANSIBLE_USER"
fi
exec "${BROKER:-broker}" "$@"
