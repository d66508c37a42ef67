"""Scene content: manifest parsing, procedural layer generation and all-or-nothing loading."""
