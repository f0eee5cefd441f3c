"""Safe extraction as a property: whatever members an archive holds, nothing lands outside.

Hypothesis builds tarballs from hostile-looking names and link targets; every archive is either
rejected before anything is written, or extracted entirely inside the target directory. Run with
and without tarfile's ``data`` filter so the verdict does not depend on the Python version.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_deeplab.fetching.extract import (
    NotAnArchive,
    UnsafeMember,
    extract_archive,
    find_member,
)

component = st.sampled_from(["a", "b", "..", ".", "top", "/", "frozen_inference_graph.pb"])
path_text = st.lists(component, min_size=1, max_size=4).map("/".join)
member = st.tuples(
    st.sampled_from([tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE]), path_text, path_text
)


def build(members: list[tuple[bytes, str, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for kind, name, target in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = target if kind != tarfile.REGTYPE else ""
            info.size = 3 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"abc") if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def everything_under(root: Path) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files]


@pytest.mark.parametrize("with_data_filter", [True, False])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(members=st.lists(member, min_size=1, max_size=4))
def test_nothing_escapes_the_target_directory(
    members: list[tuple[bytes, str, str]], with_data_filter: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not with_data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    with tempfile.TemporaryDirectory() as sandbox:
        # dest sits deeper than any run of ".." hypothesis can draw, so an escape stays visible
        archive, dest = Path(sandbox, "a.tar"), Path(sandbox, "1", "2", "3", "4", "dest")
        archive.write_bytes(build(members))
        dest.mkdir(parents=True)
        try:
            extract_archive(archive, dest)
        except (UnsafeMember, NotAnArchive):  # refused: nothing may be left behind either
            assert everything_under(dest) == []
        outside = [p for p in everything_under(Path(sandbox)) if not p.startswith(str(dest))]
        assert sorted(os.path.relpath(p, sandbox) for p in outside) == [
            "1",
            "1/2",
            "1/2/3",
            "1/2/3/4",
            "a.tar",
        ]
        for path in everything_under(dest):
            if not os.path.exists(path):
                continue  # a dangling or looping link leads nowhere (writes were checked above)
            real = os.path.realpath(path)
            assert real == str(dest.resolve()) or real.startswith(str(dest.resolve()) + os.sep)


def test_member_is_found_at_any_depth_below_the_top_folder(tmp_path: Path) -> None:
    graph = tmp_path / "deeplab_x" / "exported" / "frozen_inference_graph.pb"
    graph.parent.mkdir(parents=True)
    graph.write_bytes(b"g")

    assert find_member(tmp_path, "frozen_inference_graph.pb") == graph
    assert find_member(tmp_path, "exported/frozen_inference_graph.pb") == graph


def test_two_candidates_at_the_same_depth_are_ambiguous(tmp_path: Path) -> None:
    for top in ("a", "b"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "frozen_inference_graph.pb").write_bytes(b"g")

    with pytest.raises(LookupError, match="several"):
        find_member(tmp_path, "frozen_inference_graph.pb")


def test_links_in_a_loop_are_refused_not_a_crash(tmp_path: Path) -> None:
    """Found by the property test: tarfile follows these two links into each other without end
    (a RecursionError on every Python version here); it is an unsafe archive, nothing is left."""
    archive, dest = tmp_path / "loop.tar", tmp_path / "dest"
    archive.write_bytes(build([(tarfile.SYMTYPE, "./frozen_inference_graph.pb/.", "."),
                               (tarfile.SYMTYPE, "a/.", "frozen_inference_graph.pb")]))
    dest.mkdir()
    with pytest.raises(UnsafeMember, match="loop"):
        extract_archive(archive, dest)
    assert everything_under(dest) == []
