"""The SQLite workspace: schema, migrations, runs, caches, traces, export/import."""
