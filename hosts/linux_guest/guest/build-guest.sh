#!/bin/bash
# build-guest.sh: assembles readerlab's Linux guest (kernel + initramfs) from installed
# Debian packages only; nothing is downloaded.
#
#   build-guest.sh --out DIR --agent PATH_TO_AGENT [--with DEBIAN_PACKAGE]...
#                  [--deb FILE.deb]... [--driver-bundle DIR.bundle]...
#                  [--register-reader VID:PID:NAME]...
#
# --with PKG: an installed package's files, with the files of every installed package it
#   depends on (recursively), symlinks kept as symlinks (perl's /usr/share/perl/5.36 -> 5.36.0).
# --deb FILE: a local package unpacked into the guest (dpkg-deb -x), its dependencies as --with.
# --driver-bundle DIR: a pcsc-lite IFD handler bundle (DIR/Contents/Info.plist and the library
#   its CFBundleExecutable names under DIR/Contents/Linux/) copied to the guest's pcsc drivers
#   folder, with the shared libraries the library needs from this machine. A bundle named like
#   one the guest has replaces it: libccid reads its reader list from ifd-ccid.bundle's
#   Info.plist whatever its bundle is called, so a libccid build must come as ifd-ccid.bundle.
#
# pcscd picks a driver by the USB vendor and product IDs listed in the driver's Info.plist
# (hotplug_libudev matches VID/PID even for libccid's CCIDCLASSDRIVER bundle), so readerlab's
# own reader IDs are added to the driver's list, as a reader vendor would: to the user's bundle
# when one is given (so that it, not libccid, drives the reader), else to libccid's.
#
# This is a test guest: libccid's Info.plist gets DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED in
# ifdDriverOptions, so that SCardControl(IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE) reaches the reader
# as PC_to_RDR_Escape (Debian ships 0x0000: libccid then refuses the call itself). A user's own
# --driver-bundle keeps the options it comes with.
#
# Writes DIR/vmlinuz, DIR/initrd.img (gzip'd newc cpio) and DIR/manifest.txt. Running it
# again rebuilds the same files (outputs are replaced atomically). readerlab rebuilds a guest
# when this script or init is newer than its initrd.img (hosts/linux_guest/guest_builder.h).
set -euo pipefail
trap 'echo "build-guest: error: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

die() { echo "build-guest: error: $*" >&2; exit 1; }
note() { echo "build-guest: $*" >&2; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=""
agent=""
with_packages=()
debs=()
bundles=()
register_readers=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --agent) [ $# -ge 2 ] || die "--agent needs a path"; agent=$2; shift 2 ;;
        --with) [ $# -ge 2 ] || die "--with needs a package name"; with_packages+=("$2"); shift 2 ;;
        --deb) [ $# -ge 2 ] || die "--deb needs a .deb file"; debs+=("$2"); shift 2 ;;
        --driver-bundle) [ $# -ge 2 ] || die "--driver-bundle needs a directory"; bundles+=("$2"); shift 2 ;;
        --register-reader) [ $# -ge 2 ] || die "--register-reader needs VID:PID:NAME"; register_readers+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0"; exit 0 ;;
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

# plist_value FILE KEY: the <string> after <key>KEY</key> (the first one, when it is an array).
plist_value() {
    awk -v key="$2" '
        found && /<string>/ { sub(/.*<string>/, ""); sub(/<\/string>.*/, ""); print; exit }
        index($0, "<key>" key "</key>") { found = 1 }
    ' "$1"
}
for deb in "${debs[@]}"; do
    [ -f "$deb" ] || die "--deb $deb: no such file"
    dpkg-deb --info "$deb" >/dev/null 2>&1 || die "--deb $deb: not a Debian package (dpkg-deb --info fails)"
done
for bundle in "${bundles[@]}"; do
    bundle=${bundle%/}
    [ -d "$bundle" ] || die "--driver-bundle $bundle: no such directory"
    case "$(basename "$bundle")" in
        *.bundle) ;;
        *) die "--driver-bundle $bundle: the directory's name must end in .bundle (pcscd loads only those)" ;;
    esac
    [ -f "$bundle/Contents/Info.plist" ] || die "--driver-bundle $bundle: no Contents/Info.plist"
    library=$(plist_value "$bundle/Contents/Info.plist" CFBundleExecutable)
    [ -n "$library" ] || die "--driver-bundle $bundle: Contents/Info.plist names no CFBundleExecutable"
    [ -f "$bundle/Contents/Linux/$library" ] || die "--driver-bundle $bundle: Contents/Linux/$library (its CFBundleExecutable) is missing"
    for key in ifdVendorID ifdProductID ifdFriendlyName; do
        grep -q "<key>$key</key>" "$bundle/Contents/Info.plist" ||
            die "--driver-bundle $bundle: Contents/Info.plist has no $key (pcscd matches readers by it)"
    done
done

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
# set_driver_option PLIST BIT: ORs BIT into the <string> after <key>ifdDriverOptions</key>.
set_driver_option() {
    local plist=$1 bit=$2 old new
    old=$(plist_value "$plist" ifdDriverOptions)
    [[ "$old" =~ ^0[xX][0-9A-Fa-f]+$ ]] || die "$plist: ifdDriverOptions is '$old', not a hex number"
    new=$(printf '0x%04X' $(( old | bit )))
    awk -v new="$new" '
        found && /<string>/ { sub(/<string>[^<]*<\/string>/, "<string>" new "</string>"); found = 0 }
        index($0, "<key>ifdDriverOptions</key>") { found = 1 }
        { print }
    ' "$plist" > "$plist.new" && mv "$plist.new" "$plist"
    [ "$(plist_value "$plist" ifdDriverOptions)" = "$new" ] || die "could not set ifdDriverOptions $new in $plist"
    echo "ifdDriverOptions $old -> $new in ${plist#$stage}" >> "$manifest"
}
# libccid's ifdDriverOptions bit 0x0001, DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED (libccid's
# ccid_ifdhandler.h): SCardControl(IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE, SCARD_CTL_CODE(1)) is sent
# to the reader as PC_to_RDR_Escape. A test guest lets a case drive the reader's Escape handler.
set_driver_option "$stage/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist" 0x0001
# register_reader PLIST VID:PID:NAME: put the reader first in each of the three parallel
# arrays (a single <string> value becomes an array of two).
register_reader() {
    local plist=$1 entry=$2 vid pid name
    IFS=: read -r vid pid name <<< "$entry"
    [[ "$vid" =~ ^0x[0-9A-Fa-f]{4}$ && "$pid" =~ ^0x[0-9A-Fa-f]{4}$ && -n "$name" ]] ||
        die "--register-reader '$entry' is not VID:PID:NAME with 0xXXXX IDs"
    awk -v vid="$vid" -v pid="$pid" -v name="$name" '
        /<key>ifdVendorID<\/key>/ { pending = vid; print; next }
        /<key>ifdProductID<\/key>/ { pending = pid; print; next }
        /<key>ifdFriendlyName<\/key>/ { pending = name; print; next }
        pending != "" && /<array>/ { print; print "\t\t<string>" pending "</string>"; pending = ""; next }
        pending != "" && /<string>/ {
            indent = $0; sub(/<.*/, "", indent)
            print indent "<array>"; print indent "\t<string>" pending "</string>"
            print indent "\t" substr($0, length(indent) + 1); print indent "</array>"
            pending = ""; next
        }
        { print }
    ' "$plist" > "$plist.new" && mv "$plist.new" "$plist"
    grep -qF "<string>$name</string>" "$plist" || die "could not register '$name' in $plist"
}

# ---- the user's driver bundles ----
first_bundle_plist=""
for bundle in "${bundles[@]}"; do
    bundle=${bundle%/}
    dest=/usr/lib/pcsc/drivers/$(basename "$bundle")
    library=$(plist_value "$bundle/Contents/Info.plist" CFBundleExecutable)
    if [ -d "$stage$dest" ]; then
        # A bundle of the same name (the user's own libccid build as ifd-ccid.bundle) replaces Debian's.
        rm -rf "${stage:?}$dest"
        echo "driver bundle $dest replaced" >> "$manifest"
    fi
    add_file "$bundle/Contents/Info.plist" "$dest/Contents/Info.plist"
    add_elf "$bundle/Contents/Linux/$library" "$dest/Contents/Linux/$library"
    echo "driver bundle $dest <- $bundle" >> "$manifest"
    [ -n "$first_bundle_plist" ] || first_bundle_plist=$stage$dest/Contents/Info.plist
done
if [ -n "$first_bundle_plist" ]; then
    registry=$first_bundle_plist
else
    registry="$stage/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist"
fi
for entry in "${register_readers[@]}"; do
    register_reader "$registry" "$entry"
    echo "reader $entry registered in ${registry#$stage}" >> "$manifest"
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

# ---- --with packages and --deb files: their files, and those of every installed package they
# depend on. Never followed: the package manager and what runs maintainer scripts (the guest
# installs nothing).
declare -A package_done=([dpkg]=1 [tar]=1 [debconf]=1 [install-info]=1)
carried_packages=()
# first_installed "a | b | c": the first alternative installed here (nothing when none is).
first_installed() {
    local alternative name
    IFS='|' read -r -a alternatives <<< "$1"
    for alternative in "${alternatives[@]}"; do
        name=$(sed -e 's/([^)]*)//g' -e 's/\[[^]]*\]//g' -e 's/[[:space:]]//g' -e 's/:any$//' <<< "$alternative")
        [ -n "$name" ] || continue
        if [ "$(dpkg-query -W -f='${Status}' "$name" 2>/dev/null)" = "install ok installed" ]; then
            echo "$name"; return 0
        fi
        # A virtual package (perlapi-5.36.0): an installed package that provides it.
        local provider
        provider=$(dpkg-query -W -f='${Package} ${Status} ${Provides}\n' 2>/dev/null |
            awk -v want="$name" '/install ok installed/ { n = split($0, f, /[ ,]+/); for (i = 5; i <= n; i++) if (f[i] == want) { print $1; exit } }' || true)
        if [ -n "$provider" ]; then echo "${provider%%$'\n'*}"; return 0; fi
    done
}
# depends_of "Depends, Pre-Depends text" WHO: each dependency's installed package, one a line;
# a dependency with no installed alternative stops the build.
depends_of() {
    local relation chosen
    IFS=',' read -r -a relations <<< "$1"
    for relation in "${relations[@]}"; do
        [ -n "${relation//[[:space:]]/}" ] || continue
        chosen=$(first_installed "$relation")
        [ -n "$chosen" ] || die "$2 depends on '$(echo $relation)', which is not installed here: apt-get install it"
        echo "$chosen"
    done
}
carry_package() {
    local pkg=$1 dep
    [ -n "${package_done[$pkg]:-}" ] && return 0
    package_done[$pkg]=1
    carried_packages+=("$pkg")
    local deps  # not in a pipe: depends_of's die must stop the build
    deps=$(depends_of "$(dpkg-query -W -f='${Depends},${Pre-Depends}' "$pkg")" "package $pkg")
    for dep in $deps; do carry_package "$dep"; done
}
for pkg in "${with_packages[@]}"; do carry_package "$pkg"; done

deb_root=$stage.debs
trap 'rm -rf "$stage" "$stage.manifest" "$deb_root"' EXIT
for deb in "${debs[@]}"; do
    deb_depends=$(depends_of "$(dpkg-deb -f "$deb" Depends),$(dpkg-deb -f "$deb" Pre-Depends)" "--deb $deb")
    for dep in $deb_depends; do carry_package "$dep"; done
done

# Paths never carried: documentation, translations, C headers and glibc's charset converters (gconv).
skipped_path() {
    case "$1" in
        /usr/share/doc/*|/usr/share/man/*|/usr/share/info/*|/usr/share/locale/*|/usr/share/lintian/*) return 0 ;;
        /usr/lib/x86_64-linux-gnu/gconv/*) return 0 ;;
        /usr/include/*|*.h|*.pod) return 0 ;;  # for compiling, and documentation
    esac
    return 1
}
# Symlinks are made after every file is in place: a link to a directory (/usr/share/perl/5.36
# -> 5.36.0) must not be written through while files are copied.
pending_links=()
bulk_files=()
# carry_path HOST_PATH: a package's path. Symlinks are kept (made last); ELF files come with
# their libraries; every other file is copied in one go by flush_bulk_files (a process or three
# per file made --with perl take minutes).
carry_path() {
    local path=$1
    skipped_path "$path" && return 0
    if [ -L "$path" ]; then
        pending_links+=("$path:$(readlink "$path")")
    elif [ -f "$path" ]; then
        # Only executables and shared objects can be ELF files a program runs or loads.
        if { [ -x "$path" ] || [[ "$path" == *.so || "$path" == *.so.* ]]; } && is_elf "$path"; then
            add_elf "$path"
        else
            bulk_files+=("${path#/}")
        fi
    fi
    return 0
}
flush_bulk_files() {
    [ ${#bulk_files[@]} -gt 0 ] || return 0
    printf '%s\n' "${bulk_files[@]}" | tar -C / --no-recursion -cf - -T - | tar -C "$stage" -xf -
    local file
    for file in "${bulk_files[@]}"; do echo "file /$file <- /$file"; done >> "$manifest"
    bulk_files=()
}
for pkg in "${carried_packages[@]}"; do
    while read -r path; do carry_path "$path"; done < <(dpkg -L "$pkg")
    flush_bulk_files
    echo "package $pkg $(dpkg-query -W -f='${Version}' "$pkg")" >> "$manifest"
done
for deb in "${debs[@]}"; do
    name=$(dpkg-deb -f "$deb" Package)
    rm -rf "$deb_root"; mkdir -p "$deb_root"
    dpkg-deb -x "$deb" "$deb_root"
    # The package's own libraries are found where it puts them, in the guest as here.
    own_libraries=$(find "$deb_root" \( -type f -o -type l \) -name '*.so*' -printf '%f\n' | sort -u)
    while read -r path; do
        rel=${path#$deb_root}
        if [ -L "$path" ]; then
            skipped_path "$rel" || pending_links+=("$rel:$(readlink "$path")")
        elif is_elf "$path"; then
            skipped_path "$rel" && continue
            add_file "$path" "$rel"
            while read -r lib; do
                [ -n "$lib" ] && add_file "$lib"
            done < <(ldd "$path" 2>/dev/null | sed -n -e 's/.*=> \(\/[^ ]*\) (.*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
            while read -r missing; do
                [ -n "$missing" ] || continue
                grep -qxF "$missing" <<< "$own_libraries" ||
                    die "--deb $deb: $rel needs $missing, which neither the package nor this machine has"
            done < <(ldd "$path" 2>/dev/null | awk '/not found/ { print $1 }')
        else
            skipped_path "$rel" || add_file "$path" "$rel"
        fi
    done < <(find "$deb_root" -mindepth 1 \( -type f -o -type l \) | LC_ALL=C sort)
    echo "deb $name $(dpkg-deb -f "$deb" Version) <- $deb" >> "$manifest"
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

# ---- the carried packages' symlinks ----
for link in "${pending_links[@]}"; do
    dest=${link%%:*} target=${link#*:}
    [ -e "$stage$dest" ] || [ -L "$stage$dest" ] && continue
    parent=$(dirname "$dest")
    # Never create a path through a link already made (it could point out of the stage).
    [ -L "$stage$parent" ] && continue
    mkdir -p "$stage$parent"
    ln -s "$target" "$stage$dest"
    echo "link $dest -> $target" >> "$manifest"
done

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
