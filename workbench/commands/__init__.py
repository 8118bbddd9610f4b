"""One module per `workbench` subcommand; each exposes a click command named ``command``."""
