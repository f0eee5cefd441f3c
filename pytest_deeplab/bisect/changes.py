"""Where to read what changed between last good and first bad, and what else changed with it.

A bisection names two builds of one distribution, but each step's environment is a whole stack:
tf-nightly pulls the newest keras-nightly, a release pulls its own numpy. When the two answer
environments differ in more than the bisected package, the change may be one of the others'
(measured here: every tf-nightly after 2.21 came with keras-nightly 3.16, whose functional
models ran four BatchNormalization layers on batch statistics), so the answer lists them.

The link depends on the distribution bisected: TensorFlow builds by their git refs, Keras
releases by tag and Keras nightlies by the days between their builds; others get no link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_deeplab.bisect.candidates import CandidateError, build_order, requirement_of
from pytest_deeplab.constants import KERAS_DISTRIBUTIONS

TF_COMPARE = "https://github.com/tensorflow/tensorflow/compare/{older}...{newer}"
KERAS_COMPARE = "https://github.com/keras-team/keras/compare/{older}...{newer}"
KERAS_DAYS = "https://github.com/keras-team/keras/commits/master/?since={since}&until={until}"
_TAG = re.compile(r"^v\d+\.\d+\.\d+(?:-rc\d+)?$")
_HASH = re.compile(r"-g([0-9a-f]{7,40})$")

# Identity fields that describe the stack, with the name a reader knows them by. TensorFlow's
# own fields are left out when TensorFlow is what was bisected.
STACK_FIELDS = {"tensorflow": "TensorFlow", "keras": "Keras", "numpy": "numpy",
                "python": "Python", "tflite_runtime": "TF Lite runtime", "onednn": "oneDNN"}


def distribution_of(spec: str) -> str | None:
    """The distribution a requirement spec names (None for an interpreter or tox:ENV)."""
    try:
        return canonicalize_name(requirement_of(spec).name)
    except CandidateError:
        return None


def is_tensorflow(distribution: str | None) -> bool:
    name = canonicalize_name(distribution or "")
    return name.startswith(("tensorflow", "tf-nightly", "intel-tensorflow"))


def is_keras(distribution: str | None) -> bool:
    return canonicalize_name(distribution or "") in KERAS_DISTRIBUTIONS


def _version(text: str | None) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def git_ref(git: str | None, version: str | None) -> str | None:
    """A ref GitHub can compare: a release tag or a commit hash (None when neither is known)."""
    if git and _TAG.match(git):
        return git
    v = _version(version)
    if v is not None and not v.is_prerelease:
        return f"v{v.base_version}"
    if git:
        found = _HASH.search(git)
        if found:
            return found.group(1)
        if re.fullmatch(r"[0-9a-f]{7,40}", git):
            return git
    return None


def compare_url(good: tuple[str | None, str | None], bad: tuple[str | None, str | None],
                good_is_newer: bool = False) -> str | None:
    """(git, version) of each TensorFlow end -> the GitHub compare link, older...newer."""
    good_ref, bad_ref = git_ref(*good), git_ref(*bad)
    if not good_ref or not bad_ref:
        return None
    older, newer = (bad_ref, good_ref) if good_is_newer else (good_ref, bad_ref)
    return TF_COMPARE.format(older=older, newer=newer)


def _build_day(version: Version) -> str | None:
    """YYYY-MM-DD of a nightly's build time (candidates.build_order reads it), else None."""
    when = build_order(version)[0]
    if not when:
        return None
    digits = str(when)
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"


def keras_url(good: str | None, bad: str | None, good_is_newer: bool = False) -> str | None:
    """Keras releases by tag (v3.15.1); nightlies by the days between their builds."""
    g, b = _version(good), _version(bad)
    if g is None or b is None:
        return None
    older, newer = (b, g) if good_is_newer else (g, b)
    if not older.is_prerelease and not newer.is_prerelease:
        return KERAS_COMPARE.format(older=f"v{older}", newer=f"v{newer}")
    since, until = _build_day(older), _build_day(newer)
    if since and until:
        return KERAS_DAYS.format(since=since, until=until)
    return None


def changes_url(distribution: str | None, good: Mapping[str, Any], bad: Mapping[str, Any],
                good_is_newer: bool = False) -> str | None:
    """The link for the bisected distribution; `good`/`bad` have "version" and "git"."""
    if is_keras(distribution):
        return keras_url(good.get("version"), bad.get("version"), good_is_newer)
    if distribution is None or is_tensorflow(distribution):
        return compare_url((good.get("git"), good.get("version")),
                           (bad.get("git"), bad.get("version")), good_is_newer)
    return None


def also_different(distribution: str | None, good: Mapping[str, Any],
                   bad: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Stack fields other than the bisected package's own that differ between two identities
    (both as their workers reported them; a field either side did not report is skipped)."""
    skip = {"tensorflow"} if distribution is None or is_tensorflow(distribution) else set()
    if is_keras(distribution):
        skip.add("keras")
    found = []
    for key, label in STACK_FIELDS.items():
        a, b = good.get(key), bad.get(key)
        if key in skip or a is None or b is None or _same(key, a, b):
            continue
        found.append({"field": key, "name": label, "last_good": a or "not installed",
                      "first_bad": b or "not installed"})
    return found


def _same(key: str, a: Any, b: Any) -> bool:
    """TensorFlow's own TF Lite interpreter is labelled with TensorFlow's version, which is
    what was bisected: two of them count as the same runtime."""
    if key == "tflite_runtime" and str(a).startswith("tf.lite") and str(b).startswith("tf.lite"):
        return True
    return bool(a == b)


# The build variants a release comes in, and the nightly built the same way.
SAME_BUILD_AS_NIGHTLY = {"tf-nightly": "tensorflow", "tf-nightly-cpu": "tensorflow-cpu"}


def distribution_note(good_spec: str, bad_spec: str) -> str | None:
    """A warning when the two ends are different distributions of TensorFlow: they are built
    differently, so even one commit can differ in speed between them (measured here:
    tensorflow 2.21.0 against tensorflow-cpu 2.21.0, one git commit, a model 1.15x slower)."""
    good, bad = distribution_of(good_spec), distribution_of(bad_spec)
    if not good or not bad or good == bad or not (is_tensorflow(good) and is_tensorflow(bad)):
        return None
    if good == SAME_BUILD_AS_NIGHTLY.get(bad) or bad == SAME_BUILD_AS_NIGHTLY.get(good):
        return None  # a nightly and the release built the same way
    variant = SAME_BUILD_AS_NIGHTLY.get(bad)
    hint = (f" Start from the {variant} release instead (the build tf-nightly matches), e.g. "
            f"--good '{variant}==X'." if variant and variant != good else "")
    return (f"The ends are different distributions ({good}, {bad}), built differently: a "
            "difference can be the build's rather than a commit's, and then the first candidate "
            f"shows as first bad.{hint}")


def describe_differences(found: list[dict[str, Any]], distribution: str | None) -> str:
    """One paragraph for the answer: what else changed, and how to tell whose change it is."""
    what = canonicalize_name(distribution) if distribution else "the bisected builds"
    listed = ", ".join(f"{d['name']} {d['last_good']} -> {d['first_bad']}" for d in found)
    return (f"Besides {what}, last good and first bad also differ in: {listed}. The change may "
            "be theirs: hold them with --with (the same version for every environment), or "
            "bisect them with the other packages held, e.g. --good 'keras-nightly==OLD' --bad "
            "'keras-nightly==NEW' --with 'tf-nightly==X'.")
