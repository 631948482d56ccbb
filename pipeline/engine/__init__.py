"""The engine: runner, cache, code hashing, settings machinery, parallel backends, files, errors, progress."""
