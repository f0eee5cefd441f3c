"""`pytest-deeplab bisect`: which TensorFlow build between a good and a bad one made the change.

    candidates.py  the versions the package index offers between good and bad, in build order
    search.py      the bisection over opaque points and the StepRunner protocol (skips, ranges)
    steps.py       the real step: an environment from envs/, the gate of it against good
    answer.py      last good / first bad, their git commits, the compare link, JSON and tables

It runs gates (gate/) over environments (envs/); it measures nothing itself.
"""
