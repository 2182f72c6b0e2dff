#!/bin/bash
# build-guest.sh: assembles readerlab's Linux guest (kernel + initramfs) from installed
# Debian packages only; nothing is downloaded.
#
#   build-guest.sh --out DIR --agent PATH_TO_AGENT [--with DEBIAN_PACKAGE]...
#                  [--register-reader VID:PID:NAME]...
#
# pcscd picks a driver by the USB vendor and product IDs listed in the driver's Info.plist
# (hotplug_libudev matches VID/PID even for libccid's CCIDCLASSDRIVER bundle), so readerlab's
# own reader IDs are added to the guest's copy of libccid's list, as a reader vendor would.
#
# Writes DIR/vmlinuz, DIR/initrd.img (gzip'd newc cpio) and DIR/manifest.txt. Running it
# again rebuilds the same files (outputs are replaced atomically).
set -euo pipefail
trap 'echo "build-guest: error: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

die() { echo "build-guest: error: $*" >&2; exit 1; }
note() { echo "build-guest: $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=""
agent=""
with_packages=()
register_readers=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --agent) [ $# -ge 2 ] || die "--agent needs a path"; agent=$2; shift 2 ;;
        --with) [ $# -ge 2 ] || die "--with needs a package name"; with_packages+=("$2"); shift 2 ;;
        --register-reader) [ $# -ge 2 ] || die "--register-reader needs VID:PID:NAME"; register_readers+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$out" ] || die "--out DIR is required"
[ -n "$agent" ] || die "--agent PATH is required"
[ -x "$agent" ] || die "agent binary '$agent' is missing or not executable (build the readerlab-agent target)"

for tool in cpio gzip ldd dpkg-query find; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (apt-get install cpio gzip libc-bin dpkg findutils)"
done

require_package() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || die "Debian package '$1' is not installed: run 'apt-get install $1'"
}

# ---- the kernel: the newest installed linux-image-amd64 kernel that has its modules ----
require_package linux-image-amd64
kver=""
for image in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V); do
    v=${image#/boot/vmlinuz-}
    [ -f "/lib/modules/$v/modules.dep" ] && kver=$v
done
[ -n "$kver" ] || die "no /boot/vmlinuz-<version> with /lib/modules/<version>/modules.dep: run 'apt-get install linux-image-amd64'"
[ -r "/boot/vmlinuz-$kver" ] || die "/boot/vmlinuz-$kver is not readable"
moddir=/lib/modules/$kver

for p in busybox-static pcscd libccid udev; do require_package "$p"; done
for p in "${with_packages[@]}"; do require_package "$p"; done

stage=$(mktemp -d "${TMPDIR:-/tmp}/readerlab-guest.XXXXXX")
trap 'rm -rf "$stage" "$stage.manifest"' EXIT
manifest=$stage.manifest
: > "$manifest"

# add_file SRC [DEST]: copy SRC (following symlinks) to DEST inside the image.
add_file() {
    local src=$1 dest=${2:-$1}
    [ -e "$stage$dest" ] && return 0
    mkdir -p "$stage$(dirname "$dest")"
    cp -L --preserve=mode "$src" "$stage$dest"
    echo "file $dest <- $src" >> "$manifest"
}

is_elf() { [ -f "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' \n')" = "177ELF" ]; }

# add_elf SRC [DEST]: add an ELF file and every shared library ldd names for it.
add_elf() {
    local src=$1 dest=${2:-$1}
    add_file "$src" "$dest"
    local lib
    # ldd prints "name => /path (addr)" or "/path (addr)" for the loader; static files say "not a dynamic executable".
    while read -r lib; do
        [ -n "$lib" ] && add_file "$lib"
    done < <(ldd "$src" 2>/dev/null | sed -n -e 's/.*=> \(\/[^ ]*\) (.*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
    # Readers in these pipelines consume all their input: with pipefail, a reader that stops
    # early (grep -q, head, awk exit) makes the writer die of SIGPIPE and the script fail.
    local missing
    missing=$(ldd "$src" 2>/dev/null | grep 'not found' || true)
    if [ -n "$missing" ]; then
        die "ldd of $src names a library that is not installed: ${missing%%$'\n'*}"
    fi
}

# ---- busybox, programs, libraries ----
add_file /bin/busybox /bin/busybox
add_elf /usr/sbin/pcscd
add_elf /usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Linux/libccid.so
# Debian ships Info.plist as a symlink to /etc/libccid_Info.plist: copy the real file.
add_file /usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist
plist="$stage/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist"
for entry in "${register_readers[@]}"; do
    IFS=: read -r vid pid name <<< "$entry"
    [[ "$vid" =~ ^0x[0-9A-Fa-f]{4}$ && "$pid" =~ ^0x[0-9A-Fa-f]{4}$ && -n "$name" ]] ||
        die "--register-reader '$entry' is not VID:PID:NAME with 0xXXXX IDs"
    # Put the entry first in each of the three parallel arrays.
    awk -v vid="$vid" -v pid="$pid" -v name="$name" '
        /<key>ifdVendorID<\/key>/ { pending = vid }
        /<key>ifdProductID<\/key>/ { pending = pid }
        /<key>ifdFriendlyName<\/key>/ { pending = name }
        { print }
        /<array>/ && pending != "" { print "\t\t<string>" pending "</string>"; pending = "" }
    ' "$plist" > "$plist.new" && mv "$plist.new" "$plist"
    grep -q "<string>$name</string>" "$plist" || die "could not register '$name' in libccid's Info.plist"
    echo "libccid reader $vid:$pid $name" >> "$manifest"
done
add_elf /bin/udevadm /bin/udevadm
mkdir -p "$stage/lib/systemd"
ln -sf /bin/udevadm "$stage/lib/systemd/systemd-udevd"   # udevadm acts as udevd under this name
echo "link /lib/systemd/systemd-udevd -> /bin/udevadm" >> "$manifest"
for rules in 50-udev-default.rules 92-libccid.rules; do
    [ -f "/lib/udev/rules.d/$rules" ] && add_file "/lib/udev/rules.d/$rules"
done

# The agent (stripped copy: its debug info only costs boot time here).
add_elf "$agent" /usr/bin/readerlab-agent
if command -v strip >/dev/null 2>&1; then strip "$stage/usr/bin/readerlab-agent" 2>/dev/null || true; fi

# glibc dlopens libgcc_s.so.1 for thread cancellation; ldd does not name it.
libgcc=$(ldconfig -p 2>/dev/null | awk '/libgcc_s\.so\.1 .*x86-64/ && found == "" {found = $NF} END {print found}')
[ -n "$libgcc" ] || libgcc=/lib/x86_64-linux-gnu/libgcc_s.so.1
[ -f "$libgcc" ] || die "libgcc_s.so.1 not found: run 'apt-get install libgcc-s1'"
add_file "$libgcc"
add_file /lib64/ld-linux-x86-64.so.2

# ---- --with packages: every file of the package (not docs), ELF files with their libraries ----
for pkg in "${with_packages[@]}"; do
    while read -r path; do
        case "$path" in
            /usr/share/doc/*|/usr/share/man/*|/usr/share/info/*|/usr/share/locale/*|/usr/share/lintian/*) continue ;;
        esac
        [ -f "$path" ] || continue
        if is_elf "$path"; then add_elf "$path"; else add_file "$path"; fi
    done < <(dpkg -L "$pkg")
    echo "package $pkg $(dpkg-query -W -f='${Version}' "$pkg")" >> "$manifest"
done

# ---- kernel modules, in load order (dependencies from modules.dep first) ----
wanted_modules="usb-common usbcore xhci-hcd xhci-pci ehci-hcd ehci-pci uhci-hcd
    virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console virtio-rng"
declare -A module_done=()
module_order=()
module_path() {  # module name -> path relative to $moddir from modules.dep, empty if built in / absent
    awk -F: -v m="$1" '{ n=$1; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); if (n == m) { print $1; exit } }' "$moddir/modules.dep"
}
add_module() {
    local rel=$1
    [ -n "${module_done[$rel]:-}" ] && return 0
    module_done[$rel]=1
    local deps dep i
    deps=$(awk -F: -v m="$rel" '$1 == m { print $2; exit }' "$moddir/modules.dep")
    read -r -a dep_list <<< "$deps"
    for (( i=${#dep_list[@]}-1; i>=0; i-- )); do add_module "${dep_list[$i]}"; done
    local src=$moddir/$rel dest=$moddir/${rel%.xz}
    dest=${dest%.zst}
    mkdir -p "$stage$(dirname "$dest")"
    case "$rel" in
        *.xz) xz -dc "$src" > "$stage$dest" ;;
        *.zst) zstd -qdc "$src" > "$stage$dest" ;;
        *) cp "$src" "$stage$dest" ;;
    esac
    echo "module $dest" >> "$manifest"
    module_order+=("$dest")
}
for m in $wanted_modules; do
    rel=$(module_path "$m")
    if [ -z "$rel" ]; then
        alt=${m//-/_}; [ "$alt" = "$m" ] && alt=${m//_/-}
        rel=$(module_path "$alt")
    fi
    if [ -z "$rel" ]; then
        if grep -qE "/(${m}|${m//-/_})\.ko" "$moddir/modules.builtin" 2>/dev/null; then
            echo "module $m built in" >> "$manifest"; continue
        fi
        die "kernel module $m not found in $moddir/modules.dep"
    fi
    add_module "$rel"
done
mkdir -p "$stage/etc"
printf '%s\n' "${module_order[@]}" > "$stage/etc/readerlab-modules"

# ---- init, busybox applets, minimal /etc ----
cp "$script_dir/init" "$stage/init"
chmod 755 "$stage/init"
echo "file /init <- $script_dir/init" >> "$manifest"
for applet in $("$stage/bin/busybox" --list-full); do
    [ -e "$stage/$applet" ] || [ -L "$stage/$applet" ] && continue
    mkdir -p "$stage/$(dirname "$applet")"
    ln -s /bin/busybox "$stage/$applet"
done
echo "busybox applets $("$stage/bin/busybox" --list-full | wc -l)" >> "$manifest"
mkdir -p "$stage"/{dev,proc,sys,run,tmp,root,var}
ln -sfn /run "$stage/var/run"
echo "root:x:0:0:root:/root:/bin/sh" > "$stage/etc/passwd"
echo "root:x:0:" > "$stage/etc/group"
echo "$kver" > "$stage/etc/readerlab-kernel"

# ---- write the outputs ----
mkdir -p "$out"
cp "/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n > "$out/initrd.img.tmp"
{
    echo "# readerlab guest, built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel /boot/vmlinuz-$kver"
    for p in linux-image-amd64 busybox-static pcscd libccid udev; do
        echo "package $p $(dpkg-query -W -f='${Version}' "$p")"
    done
    echo "agent $agent"
    echo "initrd_bytes $(stat -c %s "$out/initrd.img.tmp") uncompressed_bytes $(du -sb "$stage" | cut -f1)"
    LC_ALL=C sort "$manifest"
} > "$out/manifest.txt.tmp"
mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"
mv -f "$out/initrd.img.tmp" "$out/initrd.img"
mv -f "$out/manifest.txt.tmp" "$out/manifest.txt"
rm -f "$manifest"
note "wrote $out/vmlinuz ($kver) and $out/initrd.img ($(stat -c %s "$out/initrd.img") bytes)"
