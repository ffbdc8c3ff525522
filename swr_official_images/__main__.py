import sys

from swr_official_images.cli import main

sys.exit(main())
