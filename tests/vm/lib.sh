# tests/vm/lib.sh: sourced by the configurations in tests/vm/ (issue 15): boot one of Debian's
# own kernels under qemu with the built hutch in an initramfs, run a job in it as root, and
# bring its output back. What was measured about these machines (../shared/HOST-NOTES.md):
#   - /dev/kvm exists but nested KVM fails ("KVM internal error. Suberror: 1"), so qemu runs
#     with TCG (-accel tcg -cpu max): several times slower than the host, so nothing timed
#     inside a VM means anything, and no check here compares a time;
#   - Debian's kernels are packages (linux-image-6.1.0-*-amd64 is Debian 12's own,
#     linux-image-6.12.*+deb12-amd64 the newer one); `apt-get download` and `dpkg-deb -x` give
#     the vmlinuz and the modules without installing anything;
#   - booted with no cgroup v1 mounted, /sys/fs/cgroup is pure v2 with
#     cpuset cpu io memory hugetlb pids rdma misc in cgroup.controllers.
# The VM's root is the initramfs itself, moved into a tmpfs first (pivot_root, which every
# sandbox does, refuses to leave the initial rootfs, which has no parent mount: EINVAL).
# The serial console is the only channel: the job's output comes back on it, and the
# configuration reads its summary line from it.
# shellcheck shell=bash

vm_dir=${HUTCH_VM_DIR:-/var/tmp/hutch-vm}
vm_cache=${HUTCH_VM_CACHE:-/var/cache/hutch-vm}

vm_say() { echo "vm: $*"; }
# A configuration that cannot even boot fails as one test: the line the summing reads.
vm_die() {
	echo "vm: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

# vm_need_packages PACKAGE...: install what this machine lacks (as root).
vm_need_packages() {
	local missing=() p
	for p in "$@"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] ||
			missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	vm_say "installing ${missing[*]}"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"; } >"$vm_dir/apt.log" 2>&1 ||
		{ cat "$vm_dir/apt.log" >&2; vm_die "apt-get install ${missing[*]} failed"; }
}

# vm_kernel PATTERN: the newest linux-image package matching PATTERN (a grep -E regex on the
# name), downloaded into the cache and unpacked; sets vm_vmlinuz, vm_modules, vm_kver.
vm_kernel() {
	local pattern=$1 pkg deb
	pkg=$(apt-cache search --names-only '^linux-image-' | awk '{print $1}' |
		grep -E "$pattern" | sort -V | tail -n 1)
	[[ -n $pkg ]] || vm_die "no kernel package matches $pattern (apt-get update?)"
	mkdir -p "$vm_cache"
	if ! deb=$(ls "$vm_cache/${pkg}_"*.deb 2>/dev/null | tail -n 1) || [[ -z $deb ]]; then
		vm_say "downloading $pkg"
		(cd "$vm_cache" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			vm_die "apt-get download $pkg failed"
		deb=$(ls "$vm_cache/${pkg}_"*.deb | tail -n 1)
	fi
	local x=$vm_cache/${pkg}.x
	if [[ ! -d $x ]]; then
		rm -rf "$x.tmp" && dpkg-deb -x "$deb" "$x.tmp" && mv "$x.tmp" "$x" ||
			vm_die "cannot unpack $deb"
	fi
	vm_vmlinuz=$(ls "$x"/boot/vmlinuz-* | head -n 1)
	vm_kver=${vm_vmlinuz##*/vmlinuz-}
	vm_modules=$x/lib/modules/$vm_kver
	vm_say "kernel $vm_kver ($pkg)"
}

# vm_payload_init: a fresh tree for the initramfs, with busybox (static) for the init.
vm_payload_init() {
	vm_root=$vm_dir/payload
	rm -rf "$vm_root"
	# merged /usr, as Debian 12 has it: /bin/bash and /usr/bin/bash are one file
	mkdir -p "$vm_root"/{etc,proc,sys,dev,tmp,run,root,new,usr/bin,usr/sbin,usr/lib64}
	mkdir -p "$vm_root"/usr/lib/{modules,x86_64-linux-gnu}
	ln -s usr/bin "$vm_root/bin"
	ln -s usr/sbin "$vm_root/sbin"
	ln -s usr/lib "$vm_root/lib"
	ln -s usr/lib64 "$vm_root/lib64"
	chmod 1777 "$vm_root/tmp"
	cp /bin/busybox "$vm_root/usr/bin/busybox"
	local how
	how=$(ldd /bin/busybox 2>&1 || true) # ldd fails on a static binary, saying so
	[[ $how == *"not a dynamic executable"* ]] || vm_die "/bin/busybox is not static (busybox-static)"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$vm_root/etc/passwd"
	printf 'root:x:0:\n' >"$vm_root/etc/group"
	: >"$vm_root/etc/subuid"
	: >"$vm_root/etc/subgid"
}

# vm_add_lib FILE: a shared library and, through ldd, what it needs, at the same paths.
vm_add_deps() {
	local f lib
	for f in "$@"; do
		while read -r lib; do
			[[ -e $vm_root$lib ]] || cp -L --parents "$lib" "$vm_root"
		done < <(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' | sort -u)
	done
}

# vm_add_bin PROGRAM...: programs (names on PATH or paths) with their libraries, at their paths.
vm_add_bin() {
	local p path
	for p in "$@"; do
		local link
		link=$(type -P "$p") || vm_die "$p is not installed here"
		path=$(readlink -f "$link")
		cp -a --parents "$path" "$vm_root"
		# the name on PATH too, where it is a link (/usr/bin/sh to dash, awk to mawk)
		# (the file itself: a link through /etc/alternatives would lead nowhere in the VM)
		if [[ $link != "$path" ]]; then
			mkdir -p "$vm_root$(dirname "$link")"
			cp -L "$link" "$vm_root$link"
		fi
		vm_add_deps "$path"
	done
}

# vm_add_libs SONAME...: libraries that hutch dlopen()s (libslirp, libsubid, ...), found
# through the linker cache, with theirs.
vm_add_libs() {
	local so path
	for so in "$@"; do
		path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64/ {print $NF; exit}')
		[[ -n $path ]] || vm_die "library $so is not installed here"
		cp -L --parents "$path" "$vm_root"
		vm_add_deps "$path"
	done
}

# vm_add_module NAME...: kernel modules and, first, what each depends on (read from the module's
# own .modinfo: no kmod needed), decompressed (busybox insmod reads plain .ko); the init loads
# them in that order. A name the kernel has built in is skipped.
vm_add_module() {
	local m f dep
	for m in "$@"; do
		grep -qx "$m" "$vm_root/lib/modules/order" 2>/dev/null && continue
		f=$(find "$vm_modules" -name "$m.ko*" | head -n 1)
		if [[ -z $f ]]; then
			grep -q "/$m.ko" "$vm_modules/modules.builtin" ||
				vm_die "module $m is neither in $vm_modules nor built in"
			continue
		fi
		case $f in
		*.xz) xz -dc "$f" >"$vm_root/lib/modules/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$vm_root/lib/modules/$m.ko" ;;
		*) cp "$f" "$vm_root/lib/modules/$m.ko" ;;
		esac
		for dep in $(tr '\0' '\n' <"$vm_root/lib/modules/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
			vm_add_module "$dep"
		done
		echo "$m" >>"$vm_root/lib/modules/order"
	done
}

# vm_systemd_job JOB: boot the shared root with systemd as PID 1 (vm_boot with a SHARE), and
# run JOB as root from a oneshot unit once the system is up, its output on the console, then
# power off. Units that only slow a TCG boot (timers, containerd, gettys) are masked.
vm_systemd_job() {
	local add=$vm_root/add unit=hutch-vm-job.service u
	touch "$vm_root/.systemd"
	mkdir -p "$add/etc/systemd/system/multi-user.target.wants" "$add/var/lib/hutch-vm"
	install -m 0755 "$1" "$add/var/lib/hutch-vm/job"
	printf '%s\n' '#!/bin/sh' '/var/lib/hutch-vm/job </dev/null' 'echo "vm-job: exit $?"' 'sync' \
		'systemctl --force --force poweroff' >"$add/var/lib/hutch-vm/run"
	chmod 0755 "$add/var/lib/hutch-vm/run"
	printf '%s\n' '[Unit]' 'Description=hutch VM checks (tests/vm)' 'After=multi-user.target' \
		'[Service]' 'Type=oneshot' 'ExecStart=/var/lib/hutch-vm/run' 'StandardOutput=tty' \
		'StandardError=tty' 'TTYPath=/dev/ttyS0' '[Install]' 'WantedBy=multi-user.target' \
		>"$add/etc/systemd/system/$unit"
	ln -s "../$unit" "$add/etc/systemd/system/multi-user.target.wants/$unit"
	for u in containerd.service serial-getty@ttyS0.service getty@tty1.service apt-daily.timer \
		apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer \
		systemd-timesyncd.service logrotate.timer postgresql.service console-getty.service \
		podman.service podman-restart.service podman-auto-update.service podman-auto-update.timer \
		podman-clean-transient.service; do
		ln -sf /dev/null "$add/etc/systemd/system/$u"
	done
	: >"$add/etc/fstab" # the machine's own would mount its disks
	printf '#!/bin/sh\n' >"$vm_dir/nojob" # vm_boot's /job: unused, the unit runs JOB
}

# vm_add_user NAME UID: a normal user with a subordinate id range, as Debian's useradd makes one.
vm_add_user() {
	local name=$1 uid=$2
	mkdir -p "$vm_root/home/$name"
	chown "$uid:$uid" "$vm_root/home/$name"
	echo "$name:x:$uid:$uid::/home/$name:/bin/sh" >>"$vm_root/etc/passwd"
	echo "$name:x:$uid:" >>"$vm_root/etc/group"
	echo "$name:$((100000 + (uid - 1000) * 65536)):65536" >>"$vm_root/etc/subuid"
	echo "$name:$((100000 + (uid - 1000) * 65536)):65536" >>"$vm_root/etc/subgid"
}

# vm_boot JOB TIMEOUT [SHARE]: boot the kernel with the payload and /job (a script the payload
# holds, run as root once the VM is up) and print the console. The init prints "vm-job: exit N"
# last. With SHARE (a directory: a whole Debian root), the VM's root is that directory instead,
# read-only over virtio-9p (its modules must be in the payload), with tmpfs on /run and /tmp;
# the payload is then only the first stage that mounts it.
vm_boot() {
	local job=$1 limit=$2 share=${3:-} img=$vm_dir/initramfs.cpio.gz virtfs=()
	# The share is a non-recursive bind of SHARE, in a mount namespace of qemu's own: qemu's
	# 9p server follows mounts, and the VM's proc mounted over the host's /proc seen through
	# 9p was detached again (the 9p dentry it sat on was invalidated: the host's /proc keeps
	# changing). The bind shows the root filesystem alone, /proc, /sys, /dev as empty
	# directories (so SHARE's files must be on that one filesystem).
	local wrap=()
	if [[ -n $share ]]; then
		mkdir -p "$vm_dir/rootview"
		virtfs=(-virtfs "local,path=$vm_dir/rootview,mount_tag=vmroot,security_model=none,readonly=on")
		# shellcheck disable=SC2016 # expanded by the inner shell
		wrap=(unshare --mount --propagation private -- /bin/sh -c
			'mount --bind "$1" "$2" && shift 2 && exec "$@"' vm "$share" "$vm_dir/rootview")
		touch "$vm_root/.share"
	fi
	cp "$job" "$vm_root/job"
	chmod 0755 "$vm_root/job"
	cat >"$vm_root/init" <<'EOF'
#!/bin/busybox sh
# pid 1 of the VM. First move into a tmpfs (see tests/vm/lib.sh), then mount what a booted
# Debian has (proc, sys, devtmpfs, devpts, pure cgroup v2, tmpfs /run and /tmp), load the
# modules, run /job, print its exit status, power off.
if [ -e /run/vm/.moved ]; then
	# in the shared root (read-only): busybox's applets for this script only, in /run
	# (--install finds busybox through /proc/self/exe)
	/bin/busybox mount -t proc proc /proc
	mkdir -p /run/vm/bin && /bin/busybox --install -s /run/vm/bin
	export PATH=/run/vm/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
else
	/bin/busybox --install -s /bin
	export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
fi
if [ -e /.share ] && [ -e /.systemd ]; then
	# the first stage of a VM that boots the shared Debian root with systemd: writable through
	# an overlay on a tmpfs (nothing reaches the share), the payload's /add laid over it (the
	# configuration's units, /etc/fstab), then systemd as PID 1
	mount -t proc proc /proc
	while read -r m; do insmod "/lib/modules/$m.ko" || echo "vm-init: insmod $m failed"; done </lib/modules/order
	mkdir -p /lower /rw
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose vmroot /lower || { echo "vm-init: cannot mount the shared root"; poweroff -f; }
	mount -t tmpfs -o mode=0755 tmpfs /rw
	mkdir -p /rw/upper /rw/work
	mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /new || { echo "vm-init: cannot make the root overlay"; poweroff -f; }
	cp -a /add/. /new/
	umount /proc
	exec switch_root /new /lib/systemd/systemd
fi
if [ -e /.share ]; then
	# the first stage of a VM whose root is a shared Debian root: load the modules, mount it,
	# give it tmpfs where a booted system writes, and go on there with this same script
	mount -t proc proc /proc
	while read -r m; do insmod "/lib/modules/$m.ko" || echo "vm-init: insmod $m failed"; done </lib/modules/order
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose vmroot /new || { echo "vm-init: cannot mount the shared root"; poweroff -f; }
	for d in run tmp; do mount -t tmpfs -o mode=0755 tmpfs "/new/$d"; done
	chmod 1777 /new/tmp
	mkdir -p /new/run/vm
	cp /init /job /new/run/vm/
	touch /new/run/vm/.moved
	umount /proc
	exec switch_root /new /run/vm/init
fi
if [ ! -e /.moved ] && [ ! -e /run/vm/.moved ]; then
	mount -t tmpfs -o mode=0755 tmpfs /new
	for d in /*; do
		case $d in /new | /proc | /sys | /dev) ;; *) cp -a "$d" /new/ ;; esac
	done
	mkdir -p /new/proc /new/sys /new/dev
	touch /new/.moved
	exec switch_root /new /init
fi
[ -e /proc/self ] || mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
[ -e /run/vm/.moved ] || mount -t tmpfs -o mode=0755 tmpfs /run
hostname hutch-vm
ip link set lo up 2>/dev/null
if [ -f /lib/modules/order ] && [ ! -e /run/vm/.moved ]; then
	while read -r m; do insmod "/lib/modules/$m.ko" || echo "vm-init: insmod $m failed"; done </lib/modules/order
fi
[ -e /dev/net/tun ] && chmod 0666 /dev/net/tun
[ -e /dev/fuse ] && chmod 0666 /dev/fuse
echo "vm-init: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
job=/job
[ -e /run/vm/.moved ] && job=/run/vm/job
PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin "$job" </dev/null
echo "vm-job: exit $?"
sync
poweroff -f
EOF
	chmod 0755 "$vm_root/init"
	(cd "$vm_root" && find . -mindepth 1 | cpio -o -H newc --quiet | gzip -1) >"$img" ||
		vm_die "cannot make the initramfs"
	vm_say "booting $vm_kver with $(du -h "$img" | cut -f1) of initramfs (qemu, TCG, at most ${limit}s)"
	timeout -k 10 "$limit" ${wrap[@]+"${wrap[@]}"} qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 2 \
		-nographic -no-reboot -kernel "$vm_vmlinuz" -initrd "$img" ${virtfs[@]+"${virtfs[@]}"} \
		-append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null | sed -u 's/\r//g' |
		tee "$vm_dir/console.log"
	grep -q '^vm-job: exit' "$vm_dir/console.log" ||
		vm_die "the VM ended without the job's status (timed out, or a kernel panic: $vm_dir/console.log)"
}
