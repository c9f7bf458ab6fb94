import sys

from hala_exp.report.cli import main

sys.exit(main())
