"""Storage: SQLModel tables (``models``), the engine (``db``), migrations, and the SQL of
each table in a module of its own (``deliveries`` the outbox, ``inbox``,
``installations``, ``users``; ``dialect`` for what differs between SQLite and PostgreSQL).
Functions take their engine, connection or session by keyword and return typed rows.
``repository`` only re-exports them for older callers (the tests)."""
