"""The library every AI Admin marketplace service is built on."""
