"""webhook-ingest: YClients lifecycle events and entity webhooks in, RabbitMQ out."""
