"""Plain-Python logic of the provider. Nothing in this package imports Airflow."""
