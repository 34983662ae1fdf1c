"""HTTP API server and web page (see docs/http.md)."""
