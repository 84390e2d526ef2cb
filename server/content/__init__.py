"""Content stores: the only modules that hold what people wrote or said.

Message bodies, meeting notes, goal and feedback text live in modules of this package.
``server.analytics`` may never import it (an import-linter contract), and the admin
sub-application reads analytics only.
"""
