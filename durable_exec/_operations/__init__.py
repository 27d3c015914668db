"""One module per durable operation; ``base`` holds what they share."""
