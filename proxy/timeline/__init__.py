"""§7 camera timelines: the recordings of a folder as one HLS VOD stream.

``naming`` reads a recording's time and device from its key, ``index`` builds
and caches each recording's fragment index from its boxes, ``playlist``
writes the HLS playlist and the JSON, ``answers`` keeps the answers of the last
second; ``proxy.handlers.timeline`` serves them.
"""
