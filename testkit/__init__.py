"""Test infrastructure shared by every test tier: a private database and RabbitMQ vhost per run,
and helpers to start services and emulators as real processes."""
