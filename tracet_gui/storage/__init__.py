"""The only SQLAlchemy code: schema, engine, migrations runner and stores."""
