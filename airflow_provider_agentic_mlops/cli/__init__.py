"""``airflow agentic-mlops ...`` commands (also installed as the ``agentic-mlops`` script)."""
