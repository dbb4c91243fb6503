"""OSCAR access gateway: the decision service behind nginx ``auth_request``.

A plain WSGI application served by waitress on a UNIX socket. See README.md beside this file for
the contract with nginx (endpoints, headers, status codes, cookies, configuration file).
"""

__version__ = "1.0.0"
