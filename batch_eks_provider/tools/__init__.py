"""The developer commands around the provider: ``make demo`` (:mod:`.demo`), ``make airflow``
(:mod:`.airflow_local`) and where they find the example DAGs (:mod:`.example_dags`)."""
