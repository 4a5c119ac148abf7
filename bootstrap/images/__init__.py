"""Build every image of the platform locally, without a registry: `make images`."""
