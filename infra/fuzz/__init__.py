"""The media fuzzer: real images and videos, mutated, uploaded through the API (`make fuzz`)."""
