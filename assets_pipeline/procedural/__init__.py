"""Procedural sources that stand in for surveyed data in the demo scenes."""
