"""Tests of the HTTP service (serving/), against real uvicorn servers."""
