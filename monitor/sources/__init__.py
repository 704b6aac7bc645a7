"""Adding and managing sources: OPML import/export, feed discovery, appending to the config.

opml.py and entries.py are pure (bytes and records in, records and text out);
config_file.py writes the config file; discover.py fetches a site to find its feeds.
"""
