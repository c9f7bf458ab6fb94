"""`python -m hala_exp.step SPEC.json`: run one pipeline step (see hala_exp.pipeline.execute)."""

import sys

from hala_exp.pipeline.execute import main

if __name__ == "__main__":
    sys.exit(main())
