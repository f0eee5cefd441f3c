"""The parts behind :mod:`pytest_deeplab.fetch`: one module per concern.

``download`` moves bytes (pooch over HTTP, plain copies from local mirrors), ``extract`` unpacks
zoo tarballs without trusting them, ``cache`` owns the on-disk layout and its stamps, ``lockfile``
pins what was fetched. Import :mod:`pytest_deeplab.fetch`, not these, from the rest of the project.
"""
