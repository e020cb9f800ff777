"""The watcher daemon: follows Horizon streams and applies credits to payments."""
