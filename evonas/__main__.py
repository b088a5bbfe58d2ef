import sys

from evonas.cli import main

if __name__ == "__main__":
    sys.exit(main())
