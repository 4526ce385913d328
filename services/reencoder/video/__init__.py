"""Video jobs: probe and plan (one job -> rendition tasks), encode tasks on any worker, complete the job.

A job's flow: `planner` (on `jobs.requested`) probes the original, plans the ladder and publishes one
`video.tasks` event per output; `task_handler` (any worker) encodes one output and reports on
`video.tasks.finished`; `completion` (keyed by job) writes the HLS master playlist and the manifest
once every task is done, and announces the job done or failed.
"""
