"""`python -m pytest_deeplab.cli`, the same as the `pytest-deeplab` script."""

import sys

from pytest_deeplab.cli.main import main

sys.exit(main())
