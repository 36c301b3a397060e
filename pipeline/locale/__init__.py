"""People-facing language: locale formats (Babel) and translated strings (gettext catalogues)."""
