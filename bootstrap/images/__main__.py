"""python -m bootstrap.images [name ...]: build the platform's images locally."""

from bootstrap.images.build import main

main()
