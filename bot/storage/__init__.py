"""Storage: SQLAlchemy 2.0 models, the database engine, Alembic migrations, and stores built on them."""
