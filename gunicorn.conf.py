"""gunicorn settings read from the working directory (``gunicorn wsgi:app`` picks this up).

Only what the application needs of its server; workers, bind address and log files are the
operator's (command line or ``GUNICORN_CMD_ARGS``).
"""

# Feed tokens are credentials in the URL path: the access log gets them masked.
logger_class = "scheduler.access_log.MaskingLogger"
