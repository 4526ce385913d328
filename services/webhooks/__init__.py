"""The webhooks service: tells users' endpoints when their jobs end or their media is deleted."""
