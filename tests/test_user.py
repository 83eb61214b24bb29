"""The user namespace and its id maps (src/user.c)."""

import os

import pytest

from conftest import ok, subid_ranges, error_lines


def parse_map(text):
    """uid_map/gid_map text -> list of (inside, outside, count)."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3:
            rows.append(tuple(int(x) for x in f))
    return rows


def read_maps(sh, *opts):
    r = ok(sh("cat /proc/self/uid_map; echo ==; cat /proc/self/gid_map", *opts))
    uid_text, _, gid_text = r.stdout.partition("==\n")
    return parse_map(uid_text), parse_map(gid_text), r


def check_full_range(rows, ranges, own):
    """ROWS must map the whole subordinate range (up to the 65536 ids
    hutch needs) and the caller's own id."""
    starts = {start for start, _ in ranges}
    assert any(outside in starts for _, outside, _ in rows), (
        f"no line of the map starts at a subordinate range {ranges}: {rows}")
    from_range = sum(count for _, outside, count in rows
                     if any(s <= outside < s + n for s, n in ranges))
    assert from_range >= min(sum(n for _, n in ranges), 65536), (
        f"only {from_range} subordinate ids mapped of {ranges}: {rows}")
    assert any(outside == own and count == 1 for _, outside, count in rows), (
        f"the caller's own id {own} is not mapped alone: {rows}")


def test_uid_map_shows_subordinate_range(subids, sh):
    uid_rows, _, _ = read_maps(sh)
    check_full_range(uid_rows, subid_ranges("uid"), os.getuid())


def test_gid_map_shows_subordinate_range(subids, sh):
    _, gid_rows, _ = read_maps(sh)
    check_full_range(gid_rows, subid_ranges("gid"), os.getgid())


def test_inside_ids_do_not_overlap(subids, sh):
    """Each inside id maps once, and 0..65535 are all mapped: the map lost
    no lines."""
    for rows in read_maps(sh, "--uid", "0", "--gid", "0")[:2]:
        spans = sorted((inside, inside + count) for inside, _, count in rows)
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end <= start, rows
        upto = 0
        for start, end in spans:
            if start > upto:
                break
            upto = max(upto, end)
        assert upto >= 65536, f"0..65535 not all mapped: {rows}"


def test_default_ids_are_the_callers(sh):
    r = ok(sh("id -u; id -g"))
    assert r.stdout.split() == [str(os.getuid()), str(os.getgid())]


def test_caller_uid_maps_to_itself_by_default(sh):
    uid_rows, gid_rows, _ = read_maps(sh)
    assert (os.getuid(), os.getuid(), 1) in uid_rows
    assert (os.getgid(), os.getgid(), 1) in gid_rows


def test_uid_0_looks_like_root(sh):
    uid_rows, _, _ = read_maps(sh, "--uid", "0")
    assert (0, os.getuid(), 1) in uid_rows
    r = ok(sh("id -u", "--uid", "0"))
    assert r.stdout.strip() == "0"


def test_gid_0(sh):
    _, gid_rows, _ = read_maps(sh, "--gid", "0")
    assert (0, os.getgid(), 1) in gid_rows
    r = ok(sh("id -g", "--gid", "0"))
    assert r.stdout.strip() == "0"


def test_other_uid_and_gid(sh):
    uid_rows, gid_rows, _ = read_maps(sh, "--uid", "1234", "--gid", "4321")
    assert (1234, os.getuid(), 1) in uid_rows
    assert (4321, os.getgid(), 1) in gid_rows
    r = ok(sh("id -u; id -g", "--uid", "1234", "--gid", "4321"))
    assert r.stdout.split() == ["1234", "4321"]


@pytest.mark.parametrize("opts", [(), ("--uid", "0", "--gid", "0"),
                                  ("--uid", "1234", "--gid", "4321")],
                         ids=["default", "uid0", "uid1234"])
def test_files_written_into_bind_stay_owned_by_caller(sh, tmp_path, opts):
    d = tmp_path / "w"
    d.mkdir()
    ok(sh("echo hi > /w/file && mkdir /w/sub && touch /w/sub/inner",
          "--bind", f"{d}:/w", *opts))
    for p in (d / "file", d / "sub", d / "sub" / "inner"):
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), p
    assert (d / "file").read_text() == "hi\n"


def test_caller_files_look_owned_by_inside_id(sh, tmp_path):
    (tmp_path / "f").write_text("x")
    r = ok(sh("stat -c '%u %g' /w/f", "--ro-bind", f"{tmp_path}:/w",
              "--uid", "0", "--gid", "0"))
    assert r.stdout.split() == ["0", "0"]
    r = ok(sh("stat -c '%u %g' /w/f", "--ro-bind", f"{tmp_path}:/w"))
    assert r.stdout.split() == [str(os.getuid()), str(os.getgid())]


def test_no_fallback_notice_with_subordinate_ids(subids, sh):
    r = ok(sh("true"))
    assert "hutch: notice:" not in r.stderr


# ---- users without subordinate ids (tests/run runs these as hutch-nosub)

def skip_unless_nosub():
    if subid_ranges("uid") and subid_ranges("gid"):
        pytest.skip("this user has subordinate ids; the fallback tests need "
                    "a user without (tests/run uses hutch-nosub)")


@pytest.mark.nosub
def test_nosub_maps_only_own_id_with_notice(userns, sh):
    skip_unless_nosub()
    uid_rows, gid_rows, r = read_maps(sh)
    assert uid_rows == [(os.getuid(), os.getuid(), 1)]
    assert gid_rows == [(os.getgid(), os.getgid(), 1)]
    notices = [l for l in r.stderr.splitlines()
               if l.startswith("hutch: notice:")]
    assert len(notices) == 1, r.stderr
    assert "usermod --add-subuids" in notices[0]
    assert "uidmap" in notices[0]
    assert not error_lines(r.stderr), r.stderr


@pytest.mark.nosub
def test_nosub_command_runs(userns, sh):
    skip_unless_nosub()
    r = sh("echo still-runs; exit 0")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "still-runs\n"


@pytest.mark.nosub
def test_nosub_uid_0(userns, sh):
    skip_unless_nosub()
    uid_rows, gid_rows, _ = read_maps(sh, "--uid", "0", "--gid", "0")
    assert uid_rows == [(0, os.getuid(), 1)]
    assert gid_rows == [(0, os.getgid(), 1)]
    r = ok(sh("id -u; id -g", "--uid", "0", "--gid", "0"))
    assert r.stdout.split() == ["0", "0"]


@pytest.mark.nosub
def test_nosub_bind_owner(userns, sh, tmp_path):
    skip_unless_nosub()
    ok(sh("touch /w/f", "--bind", f"{tmp_path}:/w", "--uid", "0"))
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


@pytest.mark.nosub
def test_nosub_isolation_still_on(userns, sh):
    """The fallback changes the id map only, not the rest of the sandbox."""
    skip_unless_nosub()
    r = ok(sh("cat /proc/1/comm; echo $$; grep -c : /proc/net/dev"))
    assert r.stdout.split() == ["hutch-init", "2", "1"]
