"""Deployment state shared by the deployer, node manager and gateway: tables and record helpers."""
