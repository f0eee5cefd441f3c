"""Environments for the gate: an interpreter, a tox environment, or one built from a spec.

    spec.py       what `--baseline` / `--candidate` say, parsed (path, `tox:NAME`, requirements)
    installer.py  uv when present, else venv + pip: resolve, create, install (progress shown)
    store.py      built environments under <cache>/envs/<key>, keyed by the resolved versions
    provision.py  a spec in, an interpreter out (resolve, reuse or build, install this project)
    tox.py        `tox:NAME` through `tox exec`, which builds the environment when it must

Nothing here imports TensorFlow: versions are read from package metadata.
"""

from pytest_deeplab.envs.spec import EnvSpec, EnvSpecError, parse_spec

__all__ = ["EnvSpec", "EnvSpecError", "parse_spec"]
