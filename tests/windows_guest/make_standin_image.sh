#!/usr/bin/env bash
# Makes a stand-in for a user's Windows image out of readerlab's Linux guest: a qcow2 disk that a
# legacy BIOS boots (syslinux on a FAT file system) into the guest's kernel, with the agent on
# /dev/ttyS0 (COM1, where the Windows guest's machine has the agent's serial port). Windows itself
# cannot be had here; the stand-in lets the tests drive everything of `readerlab run --guest
# windows` but Windows: the run disk, q35 with the readers on xHCI, the agent's port, the cases.
#   make_standin_image.sh GUEST_DIR IMAGE [com1|virtio]   (virtio: the agent on the virtio-serial
#   port readerlab.agent, as the guest's /init finds it by default)
set -euo pipefail
guest_dir=$1
image=$2
agent_option=" readerlab.agent=/dev/ttyS0"
[ "${3:-com1}" = virtio ] && agent_option=""
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for tool in mkfs.vfat mcopy syslinux qemu-img; do
  command -v "$tool" >/dev/null || { echo "make_standin_image.sh: $tool missing (tools/install-deps.sh windows)" >&2; exit 1; }
done
size_kib=$(( ($(stat -c %s "$guest_dir/vmlinuz") + $(stat -c %s "$guest_dir/initrd.img")) / 1024 + 8192 ))
mkfs.vfat -C "$work/disk.raw" "$size_kib" >/dev/null
cat >"$work/syslinux.cfg" <<CFG
DEFAULT readerlab
LABEL readerlab
  KERNEL vmlinuz
  APPEND initrd=initrd.img console=tty0 quiet panic=-1$agent_option
CFG
mcopy -i "$work/disk.raw" "$guest_dir/vmlinuz" "$guest_dir/initrd.img" "$work/syslinux.cfg" ::/
syslinux --install "$work/disk.raw"
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$image"
