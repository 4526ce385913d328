"""Infrastructure of reencode: local servers, container and proxy configuration."""
