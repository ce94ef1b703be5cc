"""Guards in front of the work: rate limits (ratelimit) and the malware scan of uploads (clamav)."""
