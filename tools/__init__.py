"""Release tooling for the spec: the breaking-change check and `make release`."""
