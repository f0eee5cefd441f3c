"""Splitting one model run over several CI jobs, and putting the pieces back together.

`plan` decides which models a job runs (`--deeplab-shard=K/N`), `items` keeps what happened to
each test, `results` writes and reads the machine-readable file every job leaves behind,
`merge` checks that the files form one complete run and decides its verdict, and `junit` and
`render` turn the merged run into JUnit XML and the terminal summary.

Everything here is plain Python on plain data (no TensorFlow, numpy or Pillow), so the merge
job needs neither the models nor a TensorFlow install.
"""
