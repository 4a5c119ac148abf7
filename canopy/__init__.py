"""Canopy core: configuration, errors, contracts, bus, store, blob and the service runtime."""
