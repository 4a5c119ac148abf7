"""The node manager: node registry from agents' reports, and placement decisions."""
