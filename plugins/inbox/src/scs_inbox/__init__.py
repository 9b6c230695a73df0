"""scs built-in plugin: direct messages, mentions, receipts, read cursors, unread counts,
the pending notice on tool results and the ``GET /events`` stream."""
