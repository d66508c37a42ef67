"""Plain HTTP endpoints: health, readiness, metrics, assets."""
