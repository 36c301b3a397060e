"""Real servers and stand-ins for the tests: Dovecot, PostgreSQL, SMTP, the issuers."""
