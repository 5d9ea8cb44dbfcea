"""Screen-pops: a call's card pushed to the agents it concerns, over WebSocket or SSE."""
