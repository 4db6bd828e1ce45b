#!/usr/bin/env bash
# make vagrant-test: the Vagrant path for real, with the docker provider (no hypervisor needed).
#   1. Vagrant and the docker provider's image (scripts/bootstrap.sh vagrant)
#   2. vagrant validate for every provider (--ignore-provider where its plugin/tool is absent)
#   3. vagrant up --provider=docker: the Ansible provisioner deploys the stack and runs verify
#   4. the provisioner's recap shows no failure
#   5. vagrant provision again: zero changed tasks
#   6. vagrant destroy -f (also when a step fails)
# A failed provision fails the test with the Ansible output shown.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
LOG_DIR="$ROOT/.cache/vagrant-test"
mkdir -p "$LOG_DIR"
MACHINE=edgerelay-mtproxy

fail() {
  echo "[vagrant-test] FAILED: $*" >&2
  exit 1
}
step() { printf '\n[vagrant-test] %s\n' "$*"; }
cleanup() { vagrant destroy -f >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "1. Vagrant and the docker provider image"
scripts/bootstrap.sh vagrant

step "2. vagrant validate for every provider"
for provider in qemu libvirt virtualbox docker; do
  case "$provider" in
    qemu) usable=$(vagrant plugin list 2>/dev/null | grep -q '^vagrant-qemu ' && echo yes || echo "no (plugin vagrant-qemu not installed)") ;;
    libvirt) usable=$(vagrant plugin list 2>/dev/null | grep -q '^vagrant-libvirt ' && echo yes || echo "no (plugin vagrant-libvirt not installed)") ;;
    virtualbox) usable=$(command -v VBoxManage >/dev/null && echo yes || echo "no (VirtualBox not installed)") ;;
    docker) usable=$(docker info >/dev/null 2>&1 && echo yes || echo "no (no Docker engine)") ;;
  esac
  if [ "$usable" = yes ]; then
    VAGRANT_DEFAULT_PROVIDER=$provider vagrant validate
    echo "  $provider: validated"
  else
    vagrant validate --ignore-provider
    echo "  $provider: validated with --ignore-provider: $usable"
  fi
done

# A bad setting fails before anything starts, naming its variable.
if out=$(EDGERELAY_MTPROXY=bogus vagrant validate 2>&1); then
  fail "vagrant validate accepted EDGERELAY_MTPROXY=bogus"
fi
echo "$out" | grep -q 'EDGERELAY_MTPROXY must be lab or deploy' || { echo "$out"; fail "no message naming EDGERELAY_MTPROXY"; }
echo "  EDGERELAY_MTPROXY=bogus: refused, naming the variable"

step "3. vagrant up --provider=docker (provisions with playbooks/deploy.yml)"
cleanup
if ! vagrant up --provider=docker >"$LOG_DIR/up.log" 2>&1; then
  cat "$LOG_DIR/up.log"
  echo "[vagrant-test] FAILED: vagrant up" >&2
  exit 1
fi

step "4. the provisioner deployed the stack and verify passed"
recap=$(grep -E "^$MACHINE +: ok=" "$LOG_DIR/up.log" || true)
echo "  $recap"
# verify writes the client links to a 0600 file next to the provisioner's inventory.
links=".vagrant/provisioners/ansible/inventory/.edgerelay/links/$MACHINE.txt"
if [ -z "$recap" ] || ! echo "$recap" | grep -q 'failed=0' || ! grep -q '^tg://proxy?server=' "$links" \
  || [ "$(stat -c %a "$links")" != 600 ]; then
  cat "$LOG_DIR/up.log"
  echo "[vagrant-test] FAILED: no successful deploy + verify (links in $links, mode 600)" >&2
  exit 1
fi
# The lab secret is this VM's own, generated into .vagrant/ (0600), and the links carry it.
secret_file=".vagrant/edgerelay/$MACHINE/mtproxy_secret"
[ "$(stat -c %a "$secret_file")" = 600 ] && grep -q "secret=$(cat "$secret_file")" "$links" ||
  fail "the links do not carry this VM's secret from $secret_file (mode 600)"
vagrant ssh -c 'echo "show stat" | sudo socat stdio /run/haproxy/admin.sock | cut -d, -f1,2,18 | grep mtp' | tee "$LOG_DIR/stat.txt"
grep -q 'mtproxies,mtp1,UP' "$LOG_DIR/stat.txt" && grep -q 'mtproxies,mtp2,UP' "$LOG_DIR/stat.txt"

step "5. vagrant provision again changes nothing"
if ! vagrant provision >"$LOG_DIR/provision.log" 2>&1; then
  cat "$LOG_DIR/provision.log"
  echo "[vagrant-test] FAILED: vagrant provision" >&2
  exit 1
fi
recap=$(grep -E "^$MACHINE +: ok=" "$LOG_DIR/provision.log" || true)
echo "  $recap"
if ! echo "$recap" | grep -Eq 'changed=0 .*failed=0'; then
  cat "$LOG_DIR/provision.log"
  echo "[vagrant-test] FAILED: the second provision changed something" >&2
  exit 1
fi

step "6. vagrant destroy -f"
vagrant destroy -f
trap - EXIT
echo "[vagrant-test] passed"
