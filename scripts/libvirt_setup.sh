#!/usr/bin/env bash
# Make this Debian machine a libvirt host for `vagrant up --provider=libvirt`, from Debian's
# packages only (vagrant-libvirt is packaged, so no plugin download):
#   1. qemu-system-x86, libvirt, vagrant and vagrant-libvirt, dnsmasq (Vagrant's NAT network)
#   2. libvirtd and virtlogd running: by systemd where it is PID 1, else started by hand
#      (containers, CI machines without systemd)
#   3. a `default` storage pool (vagrant-libvirt puts the box image and the VM disks there)
# Prints which virtualisation the VM will get: hardware KVM or QEMU's TCG (software emulation).
set -euo pipefail
log() { printf '[libvirt-setup] %s\n' "$*" >&2; }

missing=()
for pkg in qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients vagrant vagrant-libvirt dnsmasq-base iptables; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    systemctl start virtlogd libvirtd
  else
    # No systemd: the daemons run by hand (they keep running after this script).
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
  fi
  for _ in $(seq 1 60); do
    virsh -c qemu:///system version >/dev/null 2>&1 && break
    sleep 0.5
  done
  virsh -c qemu:///system version >/dev/null || { log "libvirtd does not answer"; exit 1; }
  log "libvirtd started"
fi

if ! virsh -c qemu:///system pool-info default >/dev/null 2>&1; then
  virsh -c qemu:///system pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
  virsh -c qemu:///system pool-build default >/dev/null
  virsh -c qemu:///system pool-autostart default >/dev/null
  log "storage pool default defined (/var/lib/libvirt/images)"
fi
# Started unless active (libvirtd may start an autostart pool on its own meanwhile).
pool_active() { virsh -c qemu:///system pool-info default 2>/dev/null | grep -E '^State: +running' >/dev/null; }
pool_active || virsh -c qemu:///system pool-start default >/dev/null 2>&1 || pool_active ||
  { log "the storage pool default does not start"; exit 1; }

# The Vagrantfile picks the same way (EDGERELAY_LIBVIRT_DRIVER overrides it).
if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
  log "virtualisation: hardware KVM (libvirt domain type kvm)"
else
  log "virtualisation: QEMU TCG, software emulation (no kvm_intel/kvm_amd; /dev/kvm: $(ls /sys/module | grep -m1 '^kvm_' || echo none))"
fi
