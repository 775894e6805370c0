"""CSV / ECSV / VOTable / HTML / PDF report builders over plain data."""
