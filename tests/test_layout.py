"""The executable's layout (src/layout.ld, made by bench/layout): the monitor's functions
gathered at the start of the code, the rest of the sections where they were, and no constant
data in an executable segment."""

import re
import shutil
import subprocess
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader

import pytest

from conftest import HUTCH, REPO

LAYOUT = REPO / "src" / "layout.ld"


def readelf(*args):
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    return subprocess.run(["readelf", "-W", *args, HUTCH], capture_output=True, text=True,
                          check=True).stdout


def layout_names():
    # the functions, not .text.startup (main and the constructors, by GCC's naming)
    return [n for n in re.findall(r"\*\(\.text\.(\w+) \.text\.\1\.\*\)", LAYOUT.read_text())
            if n != "startup"]


def test_every_name_in_the_layout_is_a_function_of_src():
    """A renamed or removed function leaves a stale line: regenerate with bench/layout."""
    loader = SourceFileLoader("bench_layout", str(REPO / "bench" / "layout"))
    gen = module_from_spec(spec_from_loader("bench_layout", loader))
    loader.exec_module(gen)
    names = layout_names()
    assert len(names) > 50, "src/layout.ld lists too few functions: regenerate it"
    stale = sorted(set(names) - gen.defined_in_src())
    assert not stale, f"src/layout.ld names functions src/ no longer has: {stale}; " \
                      "run bench/layout"


def sections():
    """name -> (address, size) of each allocated section"""
    out = {}
    for m in re.finditer(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)"
                         r"\s+\S+\s+(\S*A\S*)", readelf("-S"), re.M):
        out[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return out


def executable_ranges():
    ranges = []
    for m in re.finditer(r"^\s*LOAD\s+\S+\s+(0x[0-9a-f]+)\s+\S+\s+\S+\s+(0x[0-9a-f]+)\s+(.+?)\s+0x",
                         readelf("-l"), re.M):
        if "E" in m.group(3):
            start = int(m.group(1), 16)
            ranges.append((start, start + int(m.group(2), 16)))
    assert ranges, "no executable segment found"
    return ranges


def test_constants_stay_out_of_the_executable_segment():
    secs = sections()
    code = executable_ranges()
    assert ".text.monitor" in secs, "the layout script was not applied (meson.build)"
    for name, (addr, size) in secs.items():
        inside = any(lo <= addr < hi for lo, hi in code)
        if name.startswith(".text") or name in (".init", ".fini", ".plt", ".plt.got", ".plt.sec"):
            assert inside, f"{name} is outside the executable segment"
        elif name.startswith((".rodata", ".eh_frame", ".data", ".got", ".dynamic")):
            assert not inside, f"{name} landed in the executable segment"


def test_the_monitor_loop_is_in_its_block():
    syms = readelf("-s")
    start, size = sections()[".text.monitor"]
    for fn in ("monitor_wait", "netstack_dispatch", "main"):
        m = re.search(r"^\s*\d+:\s+([0-9a-f]+)\s+\d+\s+FUNC\s+\S+\s+\S+\s+\S+\s+" + fn + r"$",
                      syms, re.M)
        if not m:
            pytest.skip(f"{HUTCH} has no symbol {fn} (stripped)")
        assert start <= int(m.group(1), 16) < start + size, f"{fn} is not in .text.monitor"
