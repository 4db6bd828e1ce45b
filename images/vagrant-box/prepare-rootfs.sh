#!/usr/bin/env bash
# Turn a debootstrapped Debian 12 tree into a Vagrant box's root filesystem (run by
# scripts/build_box.sh, never on a running system).
#   $1  the tree        $2  Vagrant's insecure public key (replaced by Vagrant on first boot)
set -euo pipefail
rootfs="$1"
pubkey="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The disk is the filesystem itself (root=/dev/vda in the box's Vagrantfile).
echo '/dev/vda / ext4 errors=remount-ro 0 1' >"$rootfs/etc/fstab"
echo edgerelay-debian12 >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tedgerelay-debian12\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"

# DHCP on the first NIC (net.ifnames=0: eth0), the network Vagrant manages and reaches it on.
cat >"$rootfs/etc/network/interfaces" <<'EOT'
auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
EOT

# The guest installs packages from Debian's mirror through the host's NAT.
cat >"$rootfs/etc/apt/sources.list" <<'EOT'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOT

# Every VM gets its own identity on first boot: machine-id (so DHCP client ids differ) and
# SSH host keys (the unit the docker provider's image uses too).
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs"/etc/ssh/ssh_host_*
install -m 0644 "$here/../vagrant-systemd-ssh/edgerelay-ssh-hostkeys.service" "$rootfs/etc/systemd/system/"
ln -sf /etc/systemd/system/edgerelay-ssh-hostkeys.service \
  "$rootfs/etc/systemd/system/multi-user.target.wants/edgerelay-ssh-hostkeys.service"
# sshd does not wait for DNS answers it cannot get (the lab has none for client addresses).
echo 'UseDNS no' >"$rootfs/etc/ssh/sshd_config.d/edgerelay.conf"

# The vagrant user: Vagrant's well-known insecure key to log in once (Vagrant then replaces it
# with a key of its own, config.ssh.insert_key), password-less sudo as Vagrant expects.
chroot "$rootfs" useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$rootfs/etc/sudoers.d/vagrant"
chmod 0440 "$rootfs/etc/sudoers.d/vagrant"
install -d -m 0700 "$rootfs/home/vagrant/.ssh"
install -m 0600 "$pubkey" "$rootfs/home/vagrant/.ssh/authorized_keys"
chroot "$rootfs" chown -R vagrant:vagrant /home/vagrant/.ssh
# No root password: root is reached through sudo only.
chroot "$rootfs" passwd -l root >/dev/null

# Serial console login for debugging (virsh console), and a small image.
ln -sf /lib/systemd/system/serial-getty@.service \
  "$rootfs/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/* "$rootfs"/var/log/*.log
