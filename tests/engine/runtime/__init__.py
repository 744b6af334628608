"""The engine's runtimes: the docker runtime (pods in their images) and what both runtimes share."""
