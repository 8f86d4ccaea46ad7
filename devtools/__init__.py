"""Development tools: the embedded Temporal dev server, the local demo, a local process cluster and
helpers shared by tests and benchmarks. Never imported by the service's own packages; installed
with the project for `render-dev` and the test suite, not needed in a worker image."""
