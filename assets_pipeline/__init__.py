"""twinland's asset pipeline: pure mesh steps (arrays in, arrays out) and format writers.

Coordinates inside the pipeline are a scene's local ENU frame in metres (x east, y
north, z up); only the glTF writer converts to glTF's y-up axes.
"""
