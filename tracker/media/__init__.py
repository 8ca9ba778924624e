"""Video in and out around the tracker: frame sources and sinks, box files, drawing."""
