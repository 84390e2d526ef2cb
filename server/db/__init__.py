"""Database access: engine lifecycle, schema, migrations. SQL lives here and in stores."""
