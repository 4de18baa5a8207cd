#!/bin/bash
# Runs once inside the freshly imported debootstrap rootfs (as a plain container, not booted) and
# turns it into something that boots like a small VM under systemd: sshd with key-only root login,
# a nested dockerd, and none of the units that only make sense on real hardware.
set -euo pipefail
src=/tmp/elm-infra-host

install -m 0644 "$src/sshd-elm-infra.conf" /etc/ssh/sshd_config.d/elm-infra.conf
install -m 0644 "$src/ssh-host-keys.service" /etc/systemd/system/ssh-host-keys.service
install -m 0644 "$src/daemon.json" /etc/docker/daemon.json

# Each container makes its own host keys at first boot, as a VM would: a shared key baked into
# the image would make host-key pinning meaningless.
rm -f /etc/ssh/ssh_host_*

install -d -m 0700 /root/.ssh
touch /root/.ssh/authorized_keys && chmod 0600 /root/.ssh/authorized_keys
passwd -l root >/dev/null

# An empty machine-id lets systemd make a fresh one per container.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id

systemctl enable ssh-host-keys.service ssh.service docker.service containerd.service >/dev/null 2>&1

# Units that fail or hang without real hardware, a console or a writable kernel tree; masking them
# lets `systemctl is-system-running` reach running/degraded within seconds.
systemctl mask \
  getty.target console-getty.service getty@.service serial-getty@.service \
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-udev-trigger.service systemd-udev-settle.service \
  systemd-modules-load.service systemd-remount-fs.service systemd-firstboot.service \
  systemd-hwdb-update.service systemd-sysusers.service systemd-pstore.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount \
  dev-hugepages.mount dev-mqueue.mount proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
  systemd-binfmt.service systemd-journald-audit.socket systemd-ask-password-wall.path \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  systemd-networkd-wait-online.service >/dev/null 2>&1
systemctl set-default multi-user.target >/dev/null 2>&1

# unattended-upgrades runs only when `reboot --upgrade-packages` asks (the daily runs are
# production's: here they would change hosts under the tests). Its apt-daily timers are masked
# above; its periodic settings are off too, and its shutdown hook (which would hold a shutdown up
# to 30 minutes to install on shutdown) is not started.
printf 'APT::Periodic::Update-Package-Lists "0";\nAPT::Periodic::Unattended-Upgrade "0";\n' \
  >/etc/apt/apt.conf.d/20auto-upgrades
systemctl disable unattended-upgrades.service >/dev/null 2>&1

# Keep the journal small and in memory-backed /run; tests read it with journalctl.
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' >/etc/systemd/journald.conf.d/elm-infra.conf

# No Debian sources: the hosts reach no internet, and the only apt repository they use is the one
# the playbook adds (the target's stand-in for HashiCorp's, served on the target's network).
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log "$src"
