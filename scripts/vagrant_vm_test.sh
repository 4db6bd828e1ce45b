#!/usr/bin/env bash
# make vagrant-vm-test: the source document's own path on a real VM, libvirt provider:
#   1. libvirt from Debian's packages, started (scripts/libvirt_setup.sh)
#   2. the box edgerelay/debian12, built here or reused (scripts/build_box.sh)
#   3. vagrant up --provider=libvirt: boots the VM; the Ansible provisioner deploys the stack
#      (apt inside the guest through libvirt's NAT) and runs verify
#   4. the provisioner's recap shows no failure; the client links file is 0600; HAProxy has
#      both replicas UP; a TCP connection from this host to 127.0.0.1:<host port> reaches the
#      VM's HAProxy (its frontend's session count goes up)
#   5. vagrant provision again: zero changed tasks
#   6. vagrant destroy -f (also when a step fails)
# Hardware KVM where the host has it (kvm_intel/kvm_amd), QEMU's TCG otherwise: the Vagrantfile
# decides, EDGERELAY_LIBVIRT_DRIVER overrides it. It boots a real VM (11.5 minutes here under
# TCG), so it is not part of `make test`. Each phase's time goes to .cache/vagrant-vm-test/phases.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export VAGRANT_DEFAULT_PROVIDER=libvirt
LOG_DIR="$ROOT/.cache/vagrant-vm-test"
mkdir -p "$LOG_DIR"
MACHINE="${EDGERELAY_VM_NAME:-edgerelay-mtproxy}"
HOST_PORT="${EDGERELAY_HOST_PORT:-8443}"
PHASES="$LOG_DIR/phases.txt"
: >"$PHASES"
phase_start=$(date +%s)
total_start=$phase_start

step() { printf '\n[vagrant-vm-test] %s\n' "$*"; }
# phase NAME: the time since the previous phase ended, into the table.
phase() {
  local now
  now=$(date +%s)
  printf '%-44s %6ss\n' "$1" "$((now - phase_start))" | tee -a "$PHASES"
  phase_start=$now
}
fail() {
  echo "[vagrant-vm-test] FAILED: $*" >&2
  exit 1
}
# Vagrant's progress bars are carriage-return redraws: keep the logs readable.
quiet_progress() { tr '\r' '\n' | grep -v --line-buffered 'Progress:'; }
cleanup() { vagrant destroy -f >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "1. libvirt"
scripts/libvirt_setup.sh
phase "libvirt setup"

step "2. the box edgerelay/debian12"
scripts/build_box.sh
phase "box (built or reused)"

step "3. vagrant up --provider=libvirt (boots, then provisions with playbooks/deploy.yml)"
cleanup
# A free host port is the operator's choice (vagrant-libvirt does not move a taken one).
if (exec 3<>"/dev/tcp/127.0.0.1/$HOST_PORT") 2>/dev/null; then
  fail "127.0.0.1:$HOST_PORT is taken: set EDGERELAY_HOST_PORT to a free port"
fi
# Each output line gets the seconds since `vagrant up` started: the boot and the first
# provision are timed apart from the one command a user runs.
stamp() {
  local start line
  start=$(date +%s)
  while IFS= read -r line; do printf '%5d %s\n' "$(($(date +%s) - start))" "$line"; done
}
up_status=0
phase_start=$(date +%s)
vagrant up --provider=libvirt 2>&1 | quiet_progress | stamp >"$LOG_DIR/up.log" || up_status=$?
booted=$(awk '/Machine booted and ready/ {print $1; exit}' "$LOG_DIR/up.log")
[ -n "$booted" ] || { cat "$LOG_DIR/up.log"; fail "the VM did not boot"; }
# The checkout is not synced into the VM (the rsync share followed the bootstrap's symlink
# into the checkout itself, forever).
! grep -Eq 'Rsyncing folder|Installing rsync' "$LOG_DIR/up.log" || { cat "$LOG_DIR/up.log"; fail "vagrant up synced a folder"; }
domain_type=$(awk '/-- Domain type:/ {print $NF; exit}' "$LOG_DIR/up.log")
echo "  booted in ${booted}s; libvirt domain type: $domain_type ($([ "$domain_type" = kvm ] && echo hardware KVM || echo QEMU TCG))"
printf '%-44s %6ss\n' "vagrant up: boot to SSH ($domain_type)" "$booted" | tee -a "$PHASES"
phase_start=$((phase_start + booted))
[ "$up_status" = 0 ] || { cat "$LOG_DIR/up.log"; fail "vagrant up (provision)"; }
phase "vagrant up: provision (deploy + verify)"

step "4. the provisioner deployed the stack and verify passed"
recap=$(grep -E "^ *[0-9]+ $MACHINE +: ok=" "$LOG_DIR/up.log" | sed -E "s/^ *[0-9]+ //" || true)
echo "  $recap"
links=".vagrant/provisioners/ansible/inventory/.edgerelay/links/$MACHINE.txt"
if [ -z "$recap" ] || ! echo "$recap" | grep -q 'failed=0' || ! grep -q '^tg://proxy?server=' "$links" ||
  [ "$(stat -c %a "$links")" != 600 ]; then
  cat "$LOG_DIR/up.log"
  fail "no successful deploy + verify (links in $links, mode 600)"
fi
# The lab secret is this VM's own, generated into .vagrant/ (0600), and the links carry it.
secret_file=".vagrant/edgerelay/$MACHINE/mtproxy_secret"
[ "$(stat -c %a "$secret_file")" = 600 ] && grep -q "secret=$(cat "$secret_file")" "$links" ||
  fail "the links do not carry this VM's secret from $secret_file (mode 600)"
stat_line() {
  vagrant ssh -c 'echo "show stat" | sudo socat stdio /run/haproxy/admin.sock' 2>/dev/null | tr -d '\r'
}
stat_line | cut -d, -f1,2,18 | grep mtp | tee "$LOG_DIR/stat.txt"
grep -q 'mtproxies,mtp1,UP' "$LOG_DIR/stat.txt" && grep -q 'mtproxies,mtp2,UP' "$LOG_DIR/stat.txt" ||
  fail "the replicas are not both UP in HAProxy"
# The forwarded port: a connection from this host reaches the VM's HAProxy frontend (field 8:
# stot, the total of sessions it accepted).
before=$(stat_line | awk -F, '$1 == "mtproxy" && $2 == "FRONTEND" {print $8}')
python3 - "$HOST_PORT" <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as s:
    s.sendall(b"\x00" * 64)
PY
after=$before
for _ in $(seq 1 30); do
  after=$(stat_line | awk -F, '$1 == "mtproxy" && $2 == "FRONTEND" {print $8}')
  [ "$after" -gt "$before" ] && break
  sleep 1
done
echo "  HAProxy frontend sessions: $before before, $after after one connection to 127.0.0.1:$HOST_PORT"
[ "$after" -gt "$before" ] || fail "a connection to 127.0.0.1:$HOST_PORT did not reach the VM's HAProxy"
phase "checks (HAProxy, forwarded port)"

step "5. vagrant provision again changes nothing"
if ! vagrant provision >"$LOG_DIR/provision-2.log" 2>&1; then
  cat "$LOG_DIR/provision-2.log"
  fail "the second provision"
fi
recap=$(grep -E "^$MACHINE +: ok=" "$LOG_DIR/provision-2.log" || true)
echo "  $recap"
echo "$recap" | grep -Eq 'changed=0 .*failed=0' || { cat "$LOG_DIR/provision-2.log"; fail "the second provision changed something"; }
phase "second provision (0 changed)"

step "6. vagrant destroy -f"
vagrant destroy -f
trap - EXIT
phase "destroy"
printf '%-44s %6ss\n' "total" "$(($(date +%s) - total_start))" | tee -a "$PHASES"
echo "[vagrant-vm-test] passed"
