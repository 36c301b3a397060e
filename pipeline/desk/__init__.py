"""The desk's workflow: roles, decisions on bills, payments, the audit log, users and tokens.

One service layer shared by the command line and the web app; every function takes a session,
makes its change plus an audit entry, and leaves the commit to the caller.
"""
