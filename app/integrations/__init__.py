"""Phone systems that call endpoints of their own shape rather than our generic webhooks.

Each integration is a folder with its router (the vendor-facing routes), service and schemas;
the vendor-neutral call life (recording, recognition, pops) stays in `app.calls`.
"""
