"""The bisection's answer: last good and first bad with their TensorFlow commits, the link to
the changes between them, what else differs between their environments, every step's verdict,
and the deciding step's gate table.

The TensorFlow compare link wants two git refs. A final release is its release tag (`v2.20.0`:
the wheel's own GIT_VERSION often names an rc tag plus commits, `v2.21.0-rc1-5-ga481b10260d`);
a nightly is the commit hash after the last `g` of its GIT_VERSION. The link runs from the
older build to the newer one, so it lists the commits that came in between either way
(bisect.changes; Keras has links of its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_deeplab.bisect.changes import (
    also_different,
    changes_url,
    describe_differences,
    distribution_note,
    distribution_of,
)
from pytest_deeplab.bisect.search import Bisection, Step


@dataclass
class Answer:
    """Everything reported about one bisection."""

    result: Bisection
    versions: Mapping[str, str]  # point (spec) -> the version shown for it
    candidates: Sequence[str]  # the points strictly between good and bad, good end first
    good_is_newer: bool
    seconds: float
    disk_peak_bytes: int
    settings: Mapping[str, Any]

    def version(self, index: int) -> str:
        """The version listed for the point, else the TensorFlow its worker imported."""
        point = self.result.points[index]
        listed = self.versions.get(point, point)
        if listed == point:
            return self.result.tensorflow_of(index) or point
        return listed

    def end(self, index: int) -> dict[str, Any]:
        return {"version": self.version(index), "spec": self.result.points[index],
                "git": self.result.git_of(index)}

    @property
    def distribution(self) -> str | None:
        """What was bisected: the bad end's distribution (None for interpreters, tox:ENV)."""
        return distribution_of(self.result.points[-1])

    @property
    def compare_url(self) -> str | None:
        good, bad = self.end(self.result.last_good), self.end(self.result.first_bad)
        return changes_url(self.distribution, good, bad, self.good_is_newer)

    @property
    def also_different(self) -> list[dict[str, Any]]:
        """Stack fields besides the bisected package that differ between the two answers."""
        res = self.result
        if res.exit_code not in (0, 3):
            return []
        return also_different(self.distribution, res.identity_of(res.last_good),
                              res.identity_of(res.first_bad))

    def step_dict(self, step: Step) -> dict[str, Any]:
        r = step.result
        return {"step": step.number, "version": self.version(step.index),
                "spec": step.point, "budget_scale": step.budget_scale,
                "verdict": r.verdict, "reason": r.reason, "git": r.git,
                "seconds": r.seconds, "models": r.models}

    def as_dict(self) -> dict[str, Any]:
        res = self.result
        deciding = res.deciding
        return {
            "good": self.end(0),
            "bad": self.end(len(res.points) - 1),
            "candidates": [self.version(i) for i in range(1, len(res.points) - 1)],
            "steps": [self.step_dict(s) for s in res.steps],
            "last_good": self.end(res.last_good),
            "first_bad": self.end(res.first_bad),
            "skipped": [self.version(i) for i in res.skipped],
            "compare_url": self.compare_url,
            "distribution": self.distribution,
            "also_different": self.also_different,
            "distribution_note": distribution_note(res.points[0], res.points[-1]),
            "deciding_step": deciding.number if deciding else None,
            "exit_code": res.exit_code,
            "message": res.message,
            "seconds": self.seconds,
            "disk_peak_bytes": self.disk_peak_bytes,
            "settings": dict(self.settings),
        }


def _models_cell(step: Step) -> str:
    cells = []
    for m in step.result.models:
        lat = m.get("latency")
        ratio = f" {lat['ratio']:.3f}" if lat else ""
        cells.append(f"{m['model']}{ratio} {m['verdict']}")
    return "; ".join(cells) or step.result.reason or "-"


def render_answer(answer: Answer, markdown: bool = True) -> str:
    """The answer for a terminal or a CI summary."""
    from pytest_deeplab.history import format_table

    res = answer.result
    good, bad = answer.end(0), answer.end(len(res.points) - 1)
    title = (f"pytest-deeplab bisect: {good['spec']} (good) .. {bad['spec']} (bad), "
             f"{len(answer.candidates)} candidates between")
    rows = [[str(s.number), answer.version(s.index),
             f"x{s.budget_scale:g}", s.result.verdict.upper(), _models_cell(s),
             f"{s.result.seconds:.0f}"] for s in res.steps]
    lines = [f"### {title}" if markdown else title, "",
             format_table(["step", "version", "budget", "verdict", "models (latency B/A, "
                           "verdict)", "s"], rows, markdown), ""]
    last_good, first_bad = answer.end(res.last_good), answer.end(res.first_bad)

    def named(end: Mapping[str, Any]) -> str:
        return f"{end['version']} (git {end['git'] or 'unknown'})"

    if res.exit_code in (0, 3):
        strong = "**" if markdown else ""
        lines.append(f"{strong}Last good: {named(last_good)}; first bad: {named(first_bad)}"
                     f"{strong}")
        if res.skipped:
            lines.append("Undecided between them: "
                         + ", ".join(answer.version(i) for i in res.skipped))
        url = answer.compare_url
        lines.append(f"Changes: {url}" if url else "Changes: no link known for both ends")
        others = answer.also_different
        if others:
            lines.append(describe_differences(others, answer.distribution))
        note = distribution_note(res.points[0], res.points[-1])
        if note:
            lines.append(note)
    lines += ["", f"{res.message}; {len(res.steps)} steps, {answer.seconds:.0f} s, disk peak "
              f"{answer.disk_peak_bytes / 1e9:.2f} GB (exit {res.exit_code})."]
    each, whole = answer.settings.get("step_confidence"), answer.settings.get("confidence")
    if each and whole:
        planned = round((1 - whole) / (1 - each))
        extra = (f"; {len(res.steps) - planned} rerun or skipped step(s) beyond the plan "
                 "weaken that bound" if len(res.steps) > planned else "")
        lines.append(f"Each step's gate ran at {each:.2%} confidence, so that the answer holds "
                     f"at {whole:.0%} over {planned} planned steps{extra}.")
    deciding = res.deciding
    if deciding is not None and deciding.result.table:
        lines += ["", f"#### The deciding step ({deciding.number}): {deciding.point} against "
                      f"{res.points[0]}" if markdown else
                  f"The deciding step ({deciding.number}): {deciding.point} against "
                  f"{res.points[0]}", "", deciding.result.table.rstrip()]
    return "\n".join(lines) + "\n"
