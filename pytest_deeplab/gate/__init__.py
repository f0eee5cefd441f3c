"""`pytest-deeplab gate`: is TensorFlow B safe for us? One interleaved A/B run of the same models.

Laid out like a distributed test runner:

    controller.py  runs the gate: starts both sides, measures model by model, decides
    sides.py       what --baseline / --candidate name (interpreter, tox:ENV, spec) -> a Side
    process.py     one long-lived worker process per side and its JSON-lines protocol
    worker.py      the worker itself (`python -m pytest_deeplab.gate.worker`), in each environment
    identity.py    each side must run the TensorFlow it was asked for
    sampling.py    one model: warm up, alternate rounds (A B B A) until decided, compare masks
    sequential.py  anytime-valid sign-test evidence and intervals on the paired log-ratios
    verdict.py     pass / FAIL / INCONCLUSIVE with Holm's correction across models and metrics
    stats.py       noise figures; results.py, settings.py, render.py: data in, table out
"""
