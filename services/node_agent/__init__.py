"""The node agent: runs workloads on one node and reports its load and workloads."""
