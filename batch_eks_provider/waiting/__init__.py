"""How every waiter of this provider waits on a Batch job: one policy, one reading, one explanation.

- :mod:`.policy`: the numbers (poll interval default and floor, backoff, not-found and failing-cycle limits);
- :mod:`.watch`: one reading of a job (:class:`~.watch.JobWatch`) and the worker's wait loop;
- :mod:`.rules`: what a waiter does about a job that waits too long or keeps losing its Spot node;
- :mod:`.explain`: the line that says why a job is still waiting.

The submit operator's sync wait, the job sensor and the triggerer's shared poller
(:mod:`batch_eks_provider.triggers.poller`) all read these modules.
"""
