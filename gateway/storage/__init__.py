"""Storage: the database is the source of truth for messages, conversations and routing state."""
