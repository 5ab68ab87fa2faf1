"""`python -m keras_trainwatch`: the `trainwatch` command line."""

import sys

from keras_trainwatch.cli.main import main

sys.exit(main())
