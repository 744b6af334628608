"""Helpers shared by the test suites, one module per subject (no test lives here):

- ``aws``: boto3 clients on the engine, the AWS CLI, one raw request on the wire, botocore output-shape checks.
- ``blueprint``: the data-on-eks names, a job of one shell command, a gated job, one more EKS compute environment.
- ``kubernetes``: the Kubernetes client a user builds from DescribeCluster; a job's pod once it runs.
- ``served_engine``: ``batch-eks local serve`` in a process of its own, to stop, ``kill -9`` and start again.
- ``processes``: processes by their argv in ``/proc``; ending what a test leaves; exit codes as kubelet reports them.
- ``docker_images``: a Docker daemon, the test images, ``docker ps -a`` by the engine's labels.
- ``metrics``: the engine's ``/metrics`` as a scraper reads it.
- ``provider``: Airflow connections, admin calls, XCom and task states of a ``dag.test()`` run.
- ``faulty_proxy``: a proxy that fails requests after the engine processed them.
- ``browser``: headless Chromium for the tests that act as a person's browser.
"""
