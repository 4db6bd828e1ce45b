#!/bin/sh
# Turns a Debian 12 root file system into a systemd container base.
# Used by both build paths (Dockerfile and debootstrap + docker import).
set -eu
ROOTFS="${1:-/}"

cat >"$ROOTFS/etc/apt/sources.list" <<'SOURCES'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
rm -f "$ROOTFS/etc/apt/sources.list.d/debian.sources"

# No recommends, no docs: keeps installs inside lab hosts small and fast.
cat >"$ROOTFS/etc/apt/apt.conf.d/90edgerelay" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT

# Units that make no sense in a container.
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
  systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-firstboot.service systemd-modules-load.service ssh.service; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done

# Every container gets its own machine id on first boot; no baked host keys.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id" "$ROOTFS"/etc/ssh/ssh_host_*
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb

# Docker mounts /proc/sys read-only in unprivileged containers. A lab host needs to set
# sysctls (forwarding, TPROXY), so remount it read-write early in boot (needs CAP_SYS_ADMIN).
cat >"$ROOTFS/etc/systemd/system/edgerelay-proc-sys-rw.service" <<'UNIT'
[Unit]
Description=Remount /proc/sys read-write inside a lab container
DefaultDependencies=no
ConditionVirtualization=container
Before=sysinit.target systemd-sysctl.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/mount -o remount,rw /proc/sys

[Install]
WantedBy=sysinit.target
UNIT
mkdir -p "$ROOTFS/etc/systemd/system/sysinit.target.wants"
ln -sf ../edgerelay-proc-sys-rw.service "$ROOTFS/etc/systemd/system/sysinit.target.wants/edgerelay-proc-sys-rw.service"
