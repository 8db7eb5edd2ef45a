"""Web pages served by the API app: Jinja2 templates, static files, vendored uPlot."""
