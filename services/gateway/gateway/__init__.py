"""The gateway: everything the salon admin's browser talks to."""
