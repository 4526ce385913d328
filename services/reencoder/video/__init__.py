"""Video jobs in chunks: probe and plan (one job -> chunk, audio and preview tasks), encode chunks on
any worker, package as they finish, assemble the downloads, complete the job.

A job's flow: `planner` (on `jobs.requested`) probes the original, cuts its timeline into chunks
(`chunks`) and publishes one `video.tasks` event per chunk (one decode, every rung), one for the audio
and one for the previews; `task_handler` (any worker) encodes one and reports on
`video.tasks.finished`; `completion` (keyed by job) appends each chunk's CMAF segments to the rung
playlists as they arrive, writes the master playlist once the first chunk and the audio are stored
(the job is playable), then starts one MP4 assembly per rung (`fmp4` stitches segments, no
re-encode) and, when those are done, writes the manifest and announces the job done or failed.
"""
