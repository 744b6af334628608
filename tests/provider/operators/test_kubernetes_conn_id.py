"""``kubernetes_conn_id`` on the submit operator: templated, and handed to the pod hook that reads pod logs."""

from __future__ import annotations

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator


def test_the_operator_hands_its_kubernetes_connection_to_the_pod_hook():
    operator = BatchEksSubmitJobOperator(
        task_id="t", job_name="j", job_queue="q", job_definition="d", kubernetes_conn_id="in_cluster"
    )
    assert "kubernetes_conn_id" in operator.template_fields
    assert operator._pod_hook().kubernetes_conn_id == "in_cluster"
    default = BatchEksSubmitJobOperator(task_id="u", job_name="j", job_queue="q", job_definition="d")
    assert default._pod_hook().kubernetes_conn_id is None
