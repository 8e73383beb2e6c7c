#!/usr/bin/env bash
# Build the tiny guest the QEMU host backend's tests and lab boot: a Debian
# kernel (vmlinuz only, no modules) and an initramfs made here from
# busybox-static, plus a bootable ISO (GRUB El Torito) for IDE-R.
#
#   tests/qemu/build-image.sh     # prints the directory it built, e.g.
#                                 # ~/.cache/amtemu-clients/qemu-guest
#
# Output (in ${AMT_CLIENTS_PREFIX:-~/.cache/amtemu-clients}/qemu-guest):
#   vmlinuz        the kernel, extracted from Debian's linux-image package
#   initrd.img     busybox; /init prints "amtemu-qemu-guest ready" on ttyS0,
#                  runs a shell there, and powers off on the ACPI power button;
#                  on the VGA console (tty1, what KVM shows) a banner, a bar of
#                  four background colours (red, green, blue, brown) that the
#                  serial port never sees, and a shell whose `say WORDS`
#                  prints "tty1 says: WORDS" on ttyS0; on ttyS1 a tiny guest
#                  agent whose "guest-suspend-ram" suspends to RAM (ACPI S3)
#   boot.iso       the same kernel with an initramfs that prints
#                  "amtemu-qemu-iso booted" (booted from the CD over IDE-R)
# Idempotent: a finished build (the stamp file) is kept. Needs the Debian
# packages installed by tests/clients/install.sh (qemu-system-x86,
# busybox-static, cpio, xorriso, grub-pc-bin, mtools). Network: Debian apt only
# (apt-get download of the kernel package).
set -euo pipefail

PREFIX="${AMT_CLIENTS_PREFIX:-${HOME:?set HOME or AMT_CLIENTS_PREFIX}/.cache/amtemu-clients}"
OUT="$PREFIX/qemu-guest"
STAMP="$OUT/.built-v4"
log() { printf 'build-image.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ -f "$STAMP" ]; then
    echo "$OUT"
    exit 0
fi
for tool in busybox cpio gzip dpkg-deb apt-get; do
    command -v "$tool" >/dev/null || die "$tool missing (run tests/clients/install.sh)"
done
BUSYBOX="$(command -v busybox)"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- kernel
# The cloud flavour is small and has the serial port, ACPI and virtio built
# in; fall back to the generic kernel where there is no cloud flavour.
if [ ! -f "$OUT/vmlinuz" ] || [ ! -f "$OUT/button.ko" ]; then
    cd "$WORK"
    pkg=""
    for meta in linux-image-cloud-amd64 linux-image-amd64; do
        dep="$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
        if [ -n "$dep" ]; then pkg="$dep"; break; fi
    done
    [ -n "$pkg" ] || die "no linux-image package known to apt (apt-get update?)"
    log "apt-get download $pkg"
    apt-get download "$pkg" >/dev/null 2>&1 || die "apt-get download $pkg failed"
    dpkg-deb -x ./*.deb kernel
    vmlinuz="$(ls kernel/boot/vmlinuz-* | head -n1)"
    [ -f "$vmlinuz" ] || die "no vmlinuz in $pkg"
    cp "$vmlinuz" "$OUT/vmlinuz"
    # The ACPI power button driver is a module in Debian's kernels; without
    # it the button's fixed event stays disabled and system_powerdown does
    # nothing. It is the one module the guest loads.
    button="$(find kernel/lib/modules -name button.ko | head -n1)"
    [ -f "$button" ] || die "no button.ko in $pkg"
    cp "$button" "$OUT/button.ko"
    echo "$pkg" >"$OUT/kernel-package"
    cd - >/dev/null
fi

# ---------------------------------------------------------------- initramfs
make_initrd() { # make_initrd OUTFILE BANNER
    local root="$WORK/root-$RANDOM"
    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc}
    cp "$BUSYBOX" "$root/bin/busybox"
    cp "$OUT/button.ko" "$root/button.ko"
    for applet in sh ls cat echo mount sleep poweroff reboot uname read setsid cttyhack mknod; do
        ln -sf busybox "$root/bin/$applet"
    done
    # Typed on tty1 over KVM, seen on ttyS0 over SOL (no shifted keys
    # needed: a viewer's "$" or ">" may reach the VM unshifted).
    cat >"$root/bin/say" <<'SAY'
#!/bin/sh
echo "tty1 says: $*" >/dev/ttyS0
SAY
    chmod +x "$root/bin/say"
    cat >"$root/init" <<INIT
#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
/bin/busybox --install -s /bin
insmod /button.ko
# The ACPI power button (QMP system_powerdown) is a fixed event, enabled
# once button.ko is loaded; its count rises when pressed. No acpid here,
# so poll the count.
(
    f=/sys/firmware/acpi/interrupts/ff_pwr_btn
    while sleep 0.2; do
        set -- \$(cat \$f 2>/dev/null)
        if [ "\${1:-0}" -gt 0 ]; then
            echo "amtemu-qemu-guest: power button, powering off" >/dev/ttyS0
            poweroff -f
        fi
    done
) &
# A tiny guest agent on ttyS1, where amtemu sends the QEMU guest agent's
# commands: "guest-suspend-ram" (AMT's Sleep - Deep) suspends to RAM, as
# qemu-ga would. ttyS1 does not echo, so nothing goes back but answers.
if [ -c /dev/ttyS1 ]; then
    (
        stty -F /dev/ttyS1 raw -echo 2>/dev/null
        while read -r line; do
            case "\$line" in
            *'"guest-suspend-ram"'*)
                echo "amtemu-qemu-guest: asked to sleep, suspending to RAM" >/dev/ttyS0
                echo mem >/sys/power/state
                ;;
            esac
        done </dev/ttyS1
    ) &
fi
# The VGA console: what KVM shows of this guest and nothing else does.
if [ -c /dev/tty1 ]; then
    printf '\033[H\033[J\033[1;37;44m %s on tty1 \033[0m\n' "$2" >/dev/tty1
    printf '\033[41m    \033[42m    \033[44m    \033[43m    \033[0m\n' >/dev/tty1
    (
        while true; do
            setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1'
        done
    ) &
fi
echo "$2" >/dev/ttyS0
while true; do
    setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
done
INIT
    chmod +x "$root/init"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$1"
}
make_initrd "$OUT/initrd.img" "amtemu-qemu-guest ready"

# ---------------------------------------------------------------- boot ISO
if command -v grub-mkrescue >/dev/null && command -v xorriso >/dev/null; then
    iso="$WORK/iso"
    mkdir -p "$iso/boot/grub"
    cp "$OUT/vmlinuz" "$iso/boot/vmlinuz"
    make_initrd "$iso/boot/initrd.img" "amtemu-qemu-iso booted"
    cat >"$iso/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "amtemu-iso" {
    linux /boot/vmlinuz console=ttyS0,115200 quiet panic=-1
    initrd /boot/initrd.img
}
CFG
    grub-mkrescue -o "$OUT/boot.iso" "$iso" >/dev/null 2>&1 || die "grub-mkrescue failed"
else
    log "grub-mkrescue/xorriso missing: no boot.iso"
fi

touch "$STAMP"
echo "$OUT"
