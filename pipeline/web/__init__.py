"""The finance desk: a pt-BR web app and the /api/v1 JSON API, served by confere itself."""
