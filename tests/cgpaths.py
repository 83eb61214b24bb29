"""Where a process's cgroups are: used by tests/cgtools.py and tests/soak.py
(which bench/soak runs outside pytest, so this imports nothing of the suite)."""


def cgroup_dirs_of(pid):
    """PID's cgroup directory in each mounted hierarchy: {mountpoint: dir}."""
    own = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            own[ctrls] = path
    dirs = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, ptype = pre.split(), post.split()
            root, mnt, fstype = fields[3], fields[4], ptype[0]
            if fstype == "cgroup2":
                path = own.get("")
            elif fstype == "cgroup":
                opts = set(ptype[2].split(","))
                path = next((p for c, p in own.items()
                             if c and set(c.split(",")) <= opts), None)
            else:
                continue
            if path is None:
                continue
            if root != "/" and path.startswith(root):
                path = path[len(root):] or "/"
            dirs[mnt] = mnt + (path if path != "/" else "")
    return dirs
