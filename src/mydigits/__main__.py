import sys

from mydigits.cli import main

sys.exit(main())
