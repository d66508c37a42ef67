"""Live sessions: a sans-I/O core (``room``) with thin transports and hubs around it."""
