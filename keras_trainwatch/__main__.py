"""`python -m keras_trainwatch`: the `trainwatch` command line."""

import sys

from keras_trainwatch.cli import main

sys.exit(main())
