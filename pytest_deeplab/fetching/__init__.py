"""The parts behind :mod:`pytest_deeplab.fetching.fetch`: one module per concern.

``download`` moves bytes (pooch over HTTP, plain copies from local mirrors), ``extract`` unpacks
zoo tarballs without trusting them, ``cache`` owns the on-disk layout and its stamps, ``lockfile``
pins what was fetched. The rest of the project imports :mod:`pytest_deeplab.fetching.fetch`.
"""
