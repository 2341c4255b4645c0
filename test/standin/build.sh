#!/usr/bin/env bash
# Builds the stand-in Talos installer: OUTDIR/kernel-amd64 and OUTDIR/initramfs-amd64.xz.
# Contract and rationale: test/standin/README.md. Idempotent; skips work when the outputs are newer
# than every input. Needs: apt-get (download only), dpkg-deb, busybox-static, cpio, xz-utils,
# dosfstools, mtools, syslinux, toybox, node.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CACHE="$OUT/cache"
mkdir -p "$CACHE"
log() { echo "standin: $*"; }

# --- kernel package: Debian's cloud flavour (virtio drivers as modules), downloaded, never installed
deb=$(ls -t "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  pkg=${STANDIN_KERNEL_PKG:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')}
  if [ -z "$pkg" ]; then
    echo "standin: cannot resolve linux-image-cloud-amd64 (run apt-get update?)" >&2
    exit 1
  fi
  log "downloading $pkg"
  (cd "$CACHE" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb=$(ls -t "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -n1 || true)
  [ -n "$deb" ] || { echo "standin: apt-get download $pkg failed" >&2; exit 1; }
fi

KERNEL="$OUT/kernel-amd64"
INITRAMFS="$OUT/initramfs-amd64.xz"
TOYBOX=$(command -v toybox || true)
[ -n "$TOYBOX" ] || { echo "standin: toybox missing (apt-get install toybox; scripts/setup-debian does)" >&2; exit 1; }
inputs=("$0" "$HERE/init" "$HERE/udhcpc.script" "$HERE/sntpOffset.awk" "$HERE/diskImages.mjs" "$deb" /bin/busybox "$TOYBOX")
up_to_date=1
for output in "$KERNEL" "$INITRAMFS"; do
  [ -f "$output" ] || { up_to_date=0; break; }
  for input in "${inputs[@]}"; do
    [ "$output" -nt "$input" ] || { up_to_date=0; break 2; }
  done
done
if [ $up_to_date = 1 ]; then
  log "up to date ($OUT)"
  exit 0
fi

TREE="$CACHE/tree"
rm -rf "$TREE"
log "extracting $(basename "$deb")"
dpkg-deb -x "$deb" "$TREE"
vmlinuz=$(ls "$TREE"/boot/vmlinuz-* | head -n1)
moddir=$(ls -d "$TREE"/lib/modules/* | head -n1)

STAGE=$(mktemp -d "$CACHE/stage.XXXXXX")
trap 'rm -rf "$STAGE" "$TREE"' EXIT
mkdir -p "$STAGE"/{bin,dev,etc,proc,sys,tmp,run,boot,lib/modules}

# --- busybox and its applets
cp /bin/busybox "$STAGE/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$STAGE/bin/$applet"
done
ln -s bin "$STAGE/sbin"
# toybox for its sntp (Debian's busybox has no ntpd), with the shared libraries it links.
cp "$TOYBOX" "$STAGE/bin/toybox"
for lib in $(ldd "$TOYBOX" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  mkdir -p "$STAGE$(dirname "$lib")"
  cp -L "$lib" "$STAGE$lib"
done
# The kernel opens /dev/console before /init runs; without the node early output is lost.
if [ "$(id -u)" = 0 ]; then mknod -m 600 "$STAGE/dev/console" c 5 1; fi

# --- modules, dependencies first (modinfo "depends=" resolved here, no depmod in the image)
declare -A loaded=()
order=()
module_file() { find "$moddir" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" | head -n1; }
add_module() {
  local name=$1 file deps dep
  [ -z "${loaded[$name]:-}" ] || return 0
  loaded[$name]=1
  file=$(module_file "$name")
  [ -n "$file" ] || { echo "standin: module $name not found in $moddir" >&2; exit 1; }
  case "$file" in
    *.ko.xz) xz -dc "$file" >"$STAGE/lib/modules/$name.ko" ;;
    *.ko.zst) zstd -qdc "$file" >"$STAGE/lib/modules/$name.ko" ;;
    *) cp "$file" "$STAGE/lib/modules/$name.ko" ;;
  esac
  deps=$(/bin/busybox strings "$STAGE/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
  for dep in $deps; do add_module "${dep//-/_}"; done
  order+=("$name")
}
# virtio_ring must precede virtio (virtio needs its symbols at load); the dependency walk guarantees it.
for m in virtio_ring virtio virtio_pci virtio_net virtio_blk vfat nls_cp437 nls_ascii nls_utf8; do add_module "$m"; done
printf '%s\n' "${order[@]}" >"$STAGE/lib/modules/load.order"
log "modules: ${order[*]}"

# --- scripts
install -m 755 "$HERE/init" "$STAGE/init"
install -m 755 "$HERE/udhcpc.script" "$STAGE/etc/udhcpc.script"
install -m 644 "$HERE/sntpOffset.awk" "$STAGE/etc/sntp-offset.awk"

# --- what the installer writes to disk
node "$HERE/diskImages.mjs" mbr "$STAGE/boot/mbr-bios.bin"
esp="$CACHE/esp.img"
rm -f "$esp"
mkfs.fat -C -n MASKINESP "$esp" 8192 >/dev/null
printf '@echo -off\r\necho MASKIN-DISK-BOOT uefi\r\n' >"$CACHE/startup.nsh"
mcopy -i "$esp" "$CACHE/startup.nsh" ::/startup.nsh
# 64 MiB = the test bed's default VM disk, so the backup GPT header lands on the last sector.
node "$HERE/diskImages.mjs" gpt "$CACHE/disk-uefi.img" 131072 "$esp"
xz -T1 --check=crc32 -c "$CACHE/disk-uefi.img" >"$STAGE/boot/disk-uefi.img.xz"
rm -f "$CACHE/disk-uefi.img" "$esp" "$CACHE/startup.nsh"

# The BIOS disk OS template (maskin.diskos): a FAT file system from sector 0 with syslinux as its
# boot sector, so SeaBIOS boots it like a superfloppy; the installer adds kernel and initrd.
fat="$CACHE/disk-bios-linux.img"
rm -f "$fat"
mkfs.fat -C -n MASKINOS "$fat" 49152 >/dev/null
syslinux --install "$fat"
printf 'DEFAULT os\nPROMPT 0\nTIMEOUT 0\nLABEL os\n  KERNEL /kernel\n  INITRD /initrd.xz\n  APPEND console=ttyS0 maskin.role=disk\n' >"$CACHE/syslinux.cfg"
mcopy -i "$fat" "$CACHE/syslinux.cfg" ::/syslinux.cfg
xz -T1 --check=crc32 -c "$fat" >"$STAGE/boot/disk-bios-linux.img.xz"
rm -f "$fat" "$CACHE/syslinux.cfg"

# --- archive: newc cpio, xz with CRC32 (the kernel's xz decoder does not do CRC64)
log "packing initramfs"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) \
  | xz -T1 --check=crc32 -9 >"$INITRAMFS.tmp"
cp "$vmlinuz" "$KERNEL.tmp"
mv "$KERNEL.tmp" "$KERNEL"
mv "$INITRAMFS.tmp" "$INITRAMFS"
log "kernel-amd64 $(stat -c %s "$KERNEL") bytes, initramfs-amd64.xz $(stat -c %s "$INITRAMFS") bytes ($(basename "$vmlinuz"))"
