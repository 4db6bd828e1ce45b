#!/usr/bin/env bash
# Build the Vagrant box edgerelay/debian12 for the libvirt provider from Debian's packages, with
# no box download (no Vagrant Cloud needed), and add it to Vagrant:
#   1. debootstrap Debian 12 with a kernel, systemd, openssh-server, sudo, python3 and DHCP
#      (images/vagrant-box/packages.txt), then images/vagrant-box/prepare-rootfs.sh
#   2. the disk is made straight from that tree (mkfs.ext4 -d: no loop device, no mount) and
#      converted to qcow2
#   3. the kernel and initrd go beside it: libvirt boots them directly (the box's Vagrantfile)
#   4. box.img + metadata.json + Vagrantfile packed as a .box and added with `vagrant box add`
# The box is rebuilt only when its recipe (images/vagrant-box, this script) changes.
#   scripts/build_box.sh            build if needed, add to Vagrant
#   BOX_DISK_GB=20 scripts/build_box.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BOX_NAME="${BOX_NAME:-edgerelay/debian12}"
BOX_DISK_GB="${BOX_DISK_GB:-20}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
OUT="$ROOT/.cache/box"
BOX="$OUT/edgerelay-debian12-libvirt.box"
RECIPE_FILE="$OUT/recipe"
CATALOG="$OUT/edgerelay-debian12.json"

log() { printf '[build-box] %s\n' "$*" >&2; }

recipe=$( (cd "$ROOT" && sha256sum images/vagrant-box/* images/vagrant-systemd-ssh/edgerelay-ssh-hostkeys.service \
  scripts/build_box.sh; echo "disk=$BOX_DISK_GB") | sha256sum | cut -c1-16)

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v vagrant >/dev/null || need+=(vagrant)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ -f "$BOX" ] && [ -f "$CATALOG" ] && [ "$(cat "$RECIPE_FILE" 2>/dev/null)" = "$recipe" ]; then
  log "box $BOX is current (recipe $recipe)"
else
  start=$(date +%s)
  pubkey=$(dpkg -L vagrant | grep '/keys/vagrant.pub$' | head -1)
  [ -n "$pubkey" ] || { log "the vagrant package has no keys/vagrant.pub"; exit 1; }
  work="$OUT/work"
  rm -rf "$work" "$BOX" "$RECIPE_FILE"
  mkdir -p "$work/box"
  rootfs="$work/rootfs"
  include=$(grep -v '^#' "$ROOT/images/vagrant-box/packages.txt" | paste -sd, -)
  log "debootstrap bookworm ($include)"
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -30 "$work/debootstrap.log" >&2; exit 1; }
  "$ROOT/images/vagrant-box/prepare-rootfs.sh" "$rootfs" "$pubkey"
  # The kernel and initrd the box's Vagrantfile boots (the newest installed).
  kernel=$(find "$rootfs/boot" -name 'vmlinuz-*' | sort -V | tail -1)
  initrd=$(find "$rootfs/boot" -name 'initrd.img-*' | sort -V | tail -1)
  [ -n "$kernel" ] && [ -n "$initrd" ] || { log "no kernel or initrd in $rootfs/boot"; exit 1; }
  install -m 0644 "$kernel" "$work/box/vmlinuz"
  install -m 0644 "$initrd" "$work/box/initrd.img"
  log "disk: ext4 of ${BOX_DISK_GB}G made from the tree, converted to qcow2"
  mkfs.ext4 -q -F -L root -d "$rootfs" "$work/disk.raw" "${BOX_DISK_GB}G"
  rm -rf "$rootfs"
  qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/box/box.img"
  rm -f "$work/disk.raw"
  printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$BOX_DISK_GB" >"$work/box/metadata.json"
  sed "s/@RECIPE@/$recipe/" "$ROOT/images/vagrant-box/Vagrantfile" >"$work/box/Vagrantfile"
  tar -C "$work/box" -cf "$BOX.tmp" metadata.json Vagrantfile vmlinuz initrd.img box.img
  mv "$BOX.tmp" "$BOX"
  rm -rf "$work"
  # A catalog with a version (12.0.<build time>), so Vagrant tells builds apart (vagrant box
  # outdated, one libvirt volume per version) instead of watching the file's timestamp.
  printf '{"name": "%s", "versions": [{"version": "12.0.%s", "providers": [{"name": "libvirt", "url": "file://%s", "checksum_type": "sha256", "checksum": "%s"}]}]}\n' \
    "$BOX_NAME" "$(date +%s)" "$BOX" "$(sha256sum "$BOX" | cut -d' ' -f1)" >"$CATALOG"
  echo "$recipe" >"$RECIPE_FILE"
  log "built $BOX ($(du -h "$BOX" | cut -f1)) in $(($(date +%s) - start)) s"
fi

# Add this version to Vagrant unless it is there already; older versions go unless a VM uses
# them.
version=$(sed -E 's/.*"version": "([^"]+)".*/\1/' "$CATALOG")
if vagrant box list 2>/dev/null | grep -Fq "$BOX_NAME (libvirt, $version)"; then
  log "box $BOX_NAME $version (libvirt) already added"
else
  vagrant box add "$CATALOG" 2>&1 | tr '\r' '\n' | grep -v 'Progress:' >&2
  vagrant box prune --name "$BOX_NAME" --keep-active-boxes --force >/dev/null 2>&1 || true
  log "added box $BOX_NAME $version (libvirt)"
fi

# The kernel and initrd where libvirt's QEMU (user libvirt-qemu) can read them: the box's
# Vagrantfile boots this copy when the box directory is private (it is, under /root).
boot="/var/lib/libvirt/boot/edgerelay-debian12-$recipe"
if [ ! -f "$boot/initrd.img" ]; then
  mkdir -p "$boot.tmp"
  tar -C "$boot.tmp" -xf "$BOX" vmlinuz initrd.img
  chmod 0755 "$boot.tmp" && chmod 0644 "$boot.tmp"/*
  rm -rf "$boot" && mv "$boot.tmp" "$boot"
  find /var/lib/libvirt/boot -maxdepth 1 -name 'edgerelay-debian12-*' ! -name "${boot##*/}" -exec rm -rf {} +
  log "kernel and initrd for libvirt in $boot"
fi
