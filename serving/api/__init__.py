"""The HTTP routes, one thin module per resource; the work is done in `serving.intake`,
`serving.store` and `serving.worker`."""
