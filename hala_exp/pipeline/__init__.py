"""Stage graph, content-keyed store and runner."""
