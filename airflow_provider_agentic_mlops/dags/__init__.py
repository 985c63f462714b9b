# The provider's DAG files and starter models.yaml, shipped in the wheel; `agentic-mlops init`
# copies them into a DAGs folder (the repository's top-level `dags` links here).
