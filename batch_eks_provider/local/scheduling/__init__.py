"""The scheduling core: job lifecycle, dependencies, capacity, scaling, fair share, attempts and timers."""
