"""One module per source the exporter measures."""
