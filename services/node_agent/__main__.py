"""Run one node agent alone: python -m services.node_agent (see `canopy agent --help` for options)."""

from services.node_agent.service import main

main()
