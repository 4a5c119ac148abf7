"""Workload runtimes (process, docker), their builders and the host-side wheel cache."""
