"""What the frontend consumes: workers' job status and video progress, recorded in the jobs table."""
