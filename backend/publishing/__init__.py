"""Publishing scene versions: uploads, publish jobs, their queues and the version switch."""
