"""`python -m hala_exp.table` = `hala-exp-table`."""

import sys

from hala_exp.table import main

if __name__ == "__main__":
    sys.exit(main())
