"""Webhooks shared by the frontend (registration, the profile page, redelivery) and the webhooks service
(delivery): the tables, the store, the message format and signing, and the checks against
server-side request forgery."""
