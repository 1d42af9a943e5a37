"""Storage: SQLModel tables, the engine, migrations and small repository functions."""
