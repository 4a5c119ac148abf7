"""The deployer: turns a deploy request into healthy replicas on placed nodes, with progress events."""
