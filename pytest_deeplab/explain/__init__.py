"""`pytest-deeplab explain`: where two runs of a DeepLab model part ways, tensor by tensor.

TF-free: the runs themselves happen in worker processes (`explain.worker`, which reaches
TensorFlow only through `pytest_deeplab.runtime`); this package plans the chunks, compares the
tensors the workers wrote, and renders the profile as text, JSON and HTML.
"""
