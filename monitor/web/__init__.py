"""The HTTP face of `monitor run` (DESIGN.md "HTTP face"): the status page, the JSON API
under /api/v1/, and the health checks, served when the config has an ``[http]`` table.

- app.py: the route table and each route's access check; context.py: what handlers share.
- api.py: the JSON API; pages.py and views.py: the pages; auth.py: who may do what.
- server.py: uvicorn on a thread of the daemon's process.
"""
