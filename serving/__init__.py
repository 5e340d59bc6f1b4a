"""The HTTP service: FastAPI app, job store, worker pool and web page (see app.create_app)."""
