"""Central logs: the handler that ships platform lines, workload lines, their store, query and archive."""
