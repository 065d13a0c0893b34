"""dbops mcp: the estate, its evidence and read-only database access over the Model Context Protocol."""
