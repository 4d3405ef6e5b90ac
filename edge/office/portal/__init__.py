"""The residents' portal (DESIGN 8): residents help themselves from a phone, in Chinese, everything under ``/my/``.

Served by the office on the console's listener (``edge.office.console.Console``) when ``portal.enabled``:
``app.site_app`` sends ``/my`` and everything below it to the portal's app and the rest to the console's, so a
reverse proxy that forwards only ``/my/`` exposes nothing of the console. The portal has its own session
(a cookie and a table no console route reads: ``guard``), its own login (a code by SMS: ``codes``) and its
areas: ``login_pages``, ``household_pages`` (the unit's people and vehicles), ``away_pages`` (pause
care-watch). The Chinese is the console's catalog (``edge.office.console.catalogs``: one catalog).
"""
